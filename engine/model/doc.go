// Package model holds haven's plain cluster types: the cluster definition as
// written in the configuration file (Cluster, Node, Resource, Group, Clone,
// constraints), Pacemaker scores, durations, rules over node attributes, and
// the scheduler's outputs (Assignment, Action, Plan).
//
// It imports nothing from haven and no third-party library, so every other
// package (scheduler, state, membership, consensus, vip, iscsi, fencing) may
// depend on it. The types carry yaml tags because the configuration file is
// decoded into them by engine/config; Pos fields record where each item was
// written so errors can name FILE:LINE:COL.
package model
