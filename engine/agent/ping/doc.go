// Package ping is the `ping` resource type (Pacemaker's
// ocf:pacemaker:ping): while started it probes a list of hosts (ICMP through
// the iputils `ping` program, or a TCP connect) and sets a transient node
// attribute to multiplier × the number that answered, written after a
// dampen delay so a short flap is not, for location rules such as
// `pingd lt 1 or not_defined pingd`. engine/agent's registry registers Type
// as "ping".
package ping
