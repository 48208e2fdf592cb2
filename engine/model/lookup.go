package model

// Node returns the node named name.
func (c *Cluster) Node(name string) (*Node, bool) {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return &c.Nodes[i], true
		}
	}
	return nil, false
}

// Resource returns the primitive resource with this id.
func (c *Cluster) Resource(id string) (*Resource, bool) {
	for i := range c.Resources {
		if c.Resources[i].ID == id {
			return &c.Resources[i], true
		}
	}
	return nil, false
}

// Group returns the group with this id.
func (c *Cluster) Group(id string) (*Group, bool) {
	for i := range c.Groups {
		if c.Groups[i].ID == id {
			return &c.Groups[i], true
		}
	}
	return nil, false
}

// Clone returns the clone with this id.
func (c *Cluster) Clone(id string) (*Clone, bool) {
	for i := range c.Clones {
		if c.Clones[i].ID == id {
			return &c.Clones[i], true
		}
	}
	return nil, false
}

// TotalVotes is the sum of every configured node's votes.
func (c *Cluster) TotalVotes() int {
	t := 0
	for _, n := range c.Nodes {
		t += n.VotesOrDefault()
	}
	return t
}

// ExpectedVotes is cluster.expected_votes, or the sum of all votes when unset.
func (c *Cluster) ExpectedVotes() int {
	if c.Cluster.ExpectedVotes != nil {
		return *c.Cluster.ExpectedVotes
	}
	return c.TotalVotes()
}

// WaitForAll is the effective wait_for_all flag (two_node implies it).
func (c *Cluster) WaitForAll() bool {
	if c.Cluster.WaitForAll != nil {
		return *c.Cluster.WaitForAll
	}
	return c.Cluster.TwoNode
}

// StonithEnabled is the effective stonith flag: explicit, or on when fencing devices exist.
func (c *Cluster) StonithEnabled() bool {
	if c.Cluster.Stonith != nil {
		return *c.Cluster.Stonith
	}
	return len(c.Fencing) > 0
}

// NoQuorumPolicy returns the effective policy (default stop).
func (c *Cluster) NoQuorumPolicy() string {
	if c.Cluster.NoQuorumPolicy == "" {
		return NoQuorumStop
	}
	return c.Cluster.NoQuorumPolicy
}

// ProfileName returns the effective timing profile (default lan).
func (c *Cluster) ProfileName() string {
	if c.Cluster.Profile == "" {
		return ProfileLAN
	}
	return c.Cluster.Profile
}

// Ports returns the node's gossip, raft and API ports with defaults applied.
func (n Node) Ports() (gossip, raft, api int) {
	gossip, raft, api = n.GossipPort, n.RaftPort, n.APIPort
	if gossip == 0 {
		gossip = DefaultGossipPort
	}
	if raft == 0 {
		raft = DefaultRaftPort
	}
	if api == 0 {
		api = DefaultAPIPort
	}
	return
}
