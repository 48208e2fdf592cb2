// Package iscsi is the iSCSI target resource agent, built in-process on
// gostor/gotgt: targets, LUNs backed by files or block devices, initiator
// ACLs and portals, with gotgt's known defects contained.
package iscsi
