// Package vip is the virtual IP resource agent: it adds and removes addresses
// over netlink (with IPaddr2-style labels), announces them with gratuitous
// ARP or unsolicited neighbour advertisements, and monitors them.
package vip
