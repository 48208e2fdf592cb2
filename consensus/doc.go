// Package consensus owns the replicated resource log: hashicorp/raft wiring
// that adapts engine/state's state machine to raft.FSM, the key-authenticated
// transport, bootstrap from the node list, voter selection from weighted
// votes, the witness, and two-node fence-to-win recovery.
//
// The invariants and the reasons behind each choice are in DESIGN.md next to
// this file; docs/consensus.md is the operator's view.
//
// # Using it (the composition root, package node)
//
//	key, err := os.ReadFile(keyPath)                  // cluster.key_file
//	self, _ := cluster.Node(name)
//	link, err := consensus.ListenTCP(consensus.TCPLinkConfig{
//		Bind:      net.JoinHostPort(bindHost, strconv.Itoa(raftPort)),
//		Advertise: string(consensus.DefaultAddress(*self)), // primary address : raft port
//		Key:       key,
//		Logger:    log,
//	})
//	defer link.Close()                                // after node.Close
//	st := state.New(state.Options{Parse: func(b []byte) (*model.Cluster, error) {
//		return config.Parse("committed configuration", b, config.Options{})
//	}})
//	node, err := consensus.New(consensus.Config{
//		Cluster: cluster, Node: name, Key: key, Link: link, State: st,
//		Fencer:     fencer,      // fencing; required for two_node + stonith
//		Membership: members,     // Alive(name) from gossip
//		Logger:     log,
//		OnLeader:   leaderLoop,  // runs after a barrier; ctx ends with leadership
//	})
//	go node.Run(ctx)            // opens the data dir, bootstraps or restarts, blocks
//	<-node.Ready()
//
// Then, from any node:
//
//	cmd, _ := state.NewCommand(state.CmdSetConfig, time.Now(), "user@host",
//		state.SetConfig{Base: version, YAML: file})
//	res, err := node.Apply(ctx, cmd)   // forwarded to the leader when needed
//	errors.Is(err, state.ErrStale)     // another apply won: re-read, diff, retry
//	errors.Is(err, consensus.ErrUnknownOutcome) // submitted, result unknown
//	node.Barrier(ctx); view := st.View()        // linearizable read on any node
//	node.Leader(); node.Status()                // for `haven status --json`
//	_, ch := st.Watch()                         // closed on the next applied change
//
// Wiring membership events (fence-to-win acts only in two_node clusters
// without a witness; elsewhere these are no-ops or harmless):
//
//	on peer declared dead:  node.PeerDown(ctx, peer)
//	on peer alive again:    node.PeerUp(ctx, peer)
//	on a committed config:  node.UpdateCluster(parsed)  // recomputes voters
//
// `haven config apply` checks a new file with consensus.CheckChange(committed,
// next, nil) before committing it: it refuses voter sets that cannot work and
// changes that cannot happen live (raft addresses, the cluster name), with
// the steps to take instead.
//
// On a fresh cluster nothing is committed (config version 0): the leader's
// OnLeader should commit the local file with SetConfig{Base: 0} so the first
// `haven config show` has something to show. A witness (`haven witness`) is
// this same Node run for the witness's entry in the file, with no resources.
//
// Shutdown order: node.TransferLeadership(ctx) on a planned stop (SIGTERM; a
// new leader in tens of milliseconds instead of an election timeout), then
// cancel Run's context (or node.Close), then link.Close.
package consensus
