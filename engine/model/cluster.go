package model

// Pos is a position in the configuration file (1-based). The zero value means
// "not from a file" (built in code or received over the wire).
type Pos struct {
	Line int `yaml:"-" json:"-"`
	Col  int `yaml:"-" json:"-"`
}

// Default ports of a node's three listeners.
const (
	DefaultGossipPort = 7946
	DefaultRaftPort   = 7947
	DefaultAPIPort    = 7948
)

// No-quorum policies (cluster.no_quorum_policy).
const (
	NoQuorumStop   = "stop"
	NoQuorumFreeze = "freeze"
	NoQuorumIgnore = "ignore"
)

// Timing profiles (cluster.profile).
const (
	ProfileLAN  = "lan"
	ProfileFast = "fast"
	ProfileWAN  = "wan"
)

// Node roles. A witness votes (in membership and raft) but runs no resources.
const (
	RoleMember  = "member"
	RoleWitness = "witness"
)

// Cluster is the whole configuration file.
type Cluster struct {
	Cluster     Settings      `yaml:"cluster" json:"cluster"`
	Nodes       []Node        `yaml:"nodes" json:"nodes"`
	Fencing     []FenceDevice `yaml:"fencing,omitempty" json:"fencing,omitempty"`
	Resources   []Resource    `yaml:"resources,omitempty" json:"resources,omitempty"`
	Groups      []Group       `yaml:"groups,omitempty" json:"groups,omitempty"`
	Clones      []Clone       `yaml:"clones,omitempty" json:"clones,omitempty"`
	Constraints []Constraint  `yaml:"constraints,omitempty" json:"constraints,omitempty"`
}

// Settings is the `cluster:` section.
type Settings struct {
	Pos            `yaml:"-" json:"-"`
	Name           string `yaml:"name" json:"name" doc:"cluster name; nodes with another name refuse to join"`
	KeyFile        string `yaml:"key_file" json:"key_file" doc:"shared secret made by 'haven keygen'; relative to this file's folder"`
	ExpectedVotes  *int   `yaml:"expected_votes,omitempty" json:"expected_votes,omitempty" doc:"votequorum expected_votes; default: the sum of all nodes' votes"`
	TwoNode        bool   `yaml:"two_node,omitempty" json:"two_node,omitempty" doc:"votequorum two_node: exactly two one-vote nodes, quorum 1, implies wait_for_all"`
	WaitForAll     *bool  `yaml:"wait_for_all,omitempty" json:"wait_for_all,omitempty" doc:"not quorate after a cold start until every node was seen once"`
	NoQuorumPolicy string `yaml:"no_quorum_policy,omitempty" json:"no_quorum_policy,omitempty" enum:"stop,freeze,ignore" doc:"what a partition without quorum does with its resources (default stop)"`
	Stonith        *bool  `yaml:"stonith,omitempty" json:"stonith,omitempty" doc:"fence lost nodes before recovering their resources; default: true when fencing devices are configured; needs a fencing device this binary can run for every member node"`
	Profile        string `yaml:"profile,omitempty" json:"profile,omitempty" enum:"lan,fast,wan" doc:"timing profile (default lan)"`
	Timing         Timing `yaml:"timing,omitempty" json:"timing,omitempty" doc:"explicit timeouts; each overrides the profile's value"`
	DataDir        string `yaml:"data_dir,omitempty" json:"data_dir,omitempty" doc:"parent of each node's data directory (default /var/lib/haven)"`
}

// Timing holds explicit timeouts. A zero value means "take the profile's".
type Timing struct {
	Pos `yaml:"-" json:"-"`
	// memberlist failure detection
	ProbeInterval  Duration `yaml:"probe_interval,omitempty" json:"probe_interval,omitempty" doc:"gossip failure-detector probe interval"`
	ProbeTimeout   Duration `yaml:"probe_timeout,omitempty" json:"probe_timeout,omitempty" doc:"time to wait for a probe's ack; must be below probe_interval"`
	GossipInterval Duration `yaml:"gossip_interval,omitempty" json:"gossip_interval,omitempty" doc:"gossip fan-out interval"`
	SuspicionMult  int      `yaml:"suspicion_mult,omitempty" json:"suspicion_mult,omitempty" doc:"suspicion timeout = suspicion_mult x probe_interval (scaled by log10(n))"`
	// raft
	RaftHeartbeat   Duration `yaml:"raft_heartbeat,omitempty" json:"raft_heartbeat,omitempty" doc:"raft heartbeat timeout"`
	RaftElection    Duration `yaml:"raft_election,omitempty" json:"raft_election,omitempty" doc:"raft election timeout"`
	RaftLeaderLease Duration `yaml:"raft_leader_lease,omitempty" json:"raft_leader_lease,omitempty" doc:"raft leader lease; must not exceed raft_heartbeat"`
	// resource leases and no-quorum reaction
	Lease         Duration `yaml:"lease,omitempty" json:"lease,omitempty" doc:"a node stops its resources when the coordinator has not renewed its lease for this long"`
	NoQuorumDelay Duration `yaml:"no_quorum_delay,omitempty" json:"no_quorum_delay,omitempty" doc:"how long a node without a quorate coordinator waits before applying no_quorum_policy"`
}

// Node is one entry of `nodes:`.
type Node struct {
	Pos        `yaml:"-" json:"-"`
	Name       string            `yaml:"name" json:"name" doc:"node name, as other commands and constraints refer to it"`
	Addresses  []string          `yaml:"addresses" json:"addresses" doc:"one address per link (IP or host name); the first is the primary"`
	Votes      *int              `yaml:"votes,omitempty" json:"votes,omitempty" doc:"quorum votes (default 1)"`
	Role       string            `yaml:"role,omitempty" json:"role,omitempty" enum:"member,witness" doc:"member (default) or witness: votes but runs no resources"`
	GossipPort int               `yaml:"gossip_port,omitempty" json:"gossip_port,omitempty" doc:"membership port (default 7946)"`
	RaftPort   int               `yaml:"raft_port,omitempty" json:"raft_port,omitempty" doc:"raft port (default 7947)"`
	APIPort    int               `yaml:"api_port,omitempty" json:"api_port,omitempty" doc:"HTTP API port (default 7948)"`
	Fence      []string          `yaml:"fence,omitempty" json:"fence,omitempty" doc:"fencing device ids, tried in order (fencing levels); each must be of a type this binary can run"`
	Attributes map[string]string `yaml:"attributes,omitempty" json:"attributes,omitempty" doc:"permanent node attributes for location rules"`
}

// VotesOrDefault returns the node's votes (default 1).
func (n Node) VotesOrDefault() int {
	if n.Votes == nil {
		return 1
	}
	return *n.Votes
}

// IsWitness reports whether the node is a witness.
func (n Node) IsWitness() bool { return n.Role == RoleWitness }

// FenceDevice is one entry of `fencing:`.
type FenceDevice struct {
	Pos    `yaml:"-" json:"-"`
	ID     string         `yaml:"id" json:"id" doc:"device id, referred to by nodes[].fence"`
	Type   string         `yaml:"type" json:"type" doc:"device type, accepted only when this binary has it (see docs/configuration.md, Fencing)"`
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty" doc:"device parameters; secrets via *_file keys"`
	Delay  Duration       `yaml:"delay,omitempty" json:"delay,omitempty" doc:"wait this long before fencing with this device (breaks two-node races)"`
}

// Op configures one operation of a resource.
type Op struct {
	Pos      `yaml:"-" json:"-"`
	Interval Duration `yaml:"interval,omitempty" json:"interval,omitempty" doc:"monitor interval (monitor only)"`
	Timeout  Duration `yaml:"timeout,omitempty" json:"timeout,omitempty" doc:"operation timeout"`
	OnFail   string   `yaml:"on_fail,omitempty" json:"on_fail,omitempty" enum:"restart,stop,standby,ignore,fence,block" doc:"what a failure of this operation does; fence needs stonith; a failed stop blocks (default) or puts the node in standby"`
}

// Meta holds a resource's meta attributes (Pacemaker's meta_attributes).
type Meta struct {
	Pos                `yaml:"-" json:"-"`
	Stickiness         *Score   `yaml:"stickiness,omitempty" json:"stickiness,omitempty" doc:"preference for staying where it runs (resource-stickiness)"`
	MigrationThreshold int      `yaml:"migration_threshold,omitempty" json:"migration_threshold,omitempty" doc:"failures on a node before the resource is banned from it; 0 (the default) is Pacemaker's INFINITY: only a failed start, whose fail count is INFINITY, bans the node"`
	FailureTimeout     Duration `yaml:"failure_timeout,omitempty" json:"failure_timeout,omitempty" doc:"failures older than this are forgotten (0 = never)"`
	TargetRole         string   `yaml:"target_role,omitempty" json:"target_role,omitempty" enum:"Started,Stopped" doc:"Started (default) or Stopped"`
	Priority           int      `yaml:"priority,omitempty" json:"priority,omitempty" doc:"higher priority resources are placed first"`
}

// Resource is one entry of `resources:` (a Pacemaker primitive).
type Resource struct {
	Pos     `yaml:"-" json:"-"`
	ID      string         `yaml:"id" json:"id" doc:"resource id"`
	Type    string         `yaml:"type" json:"type" doc:"one of the types this binary runs: vip, systemd, exec, filesystem, ping, alert, systemd:UNIT or ocf:PROVIDER:AGENT"`
	Params  map[string]any `yaml:"params,omitempty" json:"params,omitempty" doc:"parameters checked by the type's validator"`
	Monitor *Op            `yaml:"monitor,omitempty" json:"monitor,omitempty" doc:"recurring monitor"`
	Start   *Op            `yaml:"start,omitempty" json:"start,omitempty" doc:"start operation"`
	Stop    *Op            `yaml:"stop,omitempty" json:"stop,omitempty" doc:"stop operation"`
	Meta    Meta           `yaml:"meta,omitempty" json:"meta,omitempty" doc:"meta attributes"`
	// ParamPos maps each params key to where it was written (filled by engine/config).
	ParamPos map[string]Pos `yaml:"-" json:"-"`
}

// Group is one entry of `groups:`: members colocated and started in list order.
type Group struct {
	Pos       `yaml:"-" json:"-"`
	ID        string   `yaml:"id" json:"id" doc:"group id"`
	Resources []string `yaml:"resources" json:"resources" doc:"member resource ids, started in this order"`
	Meta      Meta     `yaml:"meta,omitempty" json:"meta,omitempty" doc:"meta attributes for the whole group"`
}

// Clone is one entry of `clones:`: an anonymous clone of a resource or group.
type Clone struct {
	Pos      `yaml:"-" json:"-"`
	ID       string `yaml:"id" json:"id" doc:"clone id"`
	Resource string `yaml:"resource" json:"resource" doc:"the resource or group to clone"`
	Max      int    `yaml:"max,omitempty" json:"max,omitempty" doc:"instances in the cluster (default: number of nodes)"`
	NodeMax  int    `yaml:"node_max,omitempty" json:"node_max,omitempty" doc:"instances per node: 1 (the default; an anonymous clone runs at most one instance per node)"`
	Meta     Meta   `yaml:"meta,omitempty" json:"meta,omitempty" doc:"meta attributes (stickiness defaults to 1)"`
}

// Constraint is one entry of `constraints:`; exactly one field is set.
type Constraint struct {
	Pos        `yaml:"-" json:"-"`
	Location   *Location   `yaml:"location,omitempty" json:"location,omitempty" doc:"where a resource may or prefers to run"`
	Colocation *Colocation `yaml:"colocation,omitempty" json:"colocation,omitempty" doc:"run a resource with (or away from) another"`
	Order      *Order      `yaml:"order,omitempty" json:"order,omitempty" doc:"start one resource before another"`
}

// Location: a score for `resource` on `node`, or on every node where `rule` holds.
type Location struct {
	Pos      `yaml:"-" json:"-"`
	ID       string `yaml:"id,omitempty" json:"id,omitempty" doc:"optional constraint id (shown in score explanations)"`
	Resource string `yaml:"resource" json:"resource" doc:"resource, group or clone id"`
	Node     string `yaml:"node,omitempty" json:"node,omitempty" doc:"node name (or use rule)"`
	Score    Score  `yaml:"score" json:"score" doc:"integer, INFINITY or -INFINITY"`
	Rule     string `yaml:"rule,omitempty" json:"rule,omitempty" doc:"rule over node attributes, e.g. 'pingd lt 1 or not_defined pingd'"`
	// ParsedRule is filled by engine/config when Rule is set.
	ParsedRule *Rule `yaml:"-" json:"-"`
}

// Colocation: place `resource` relative to where `with` runs.
type Colocation struct {
	Pos      `yaml:"-" json:"-"`
	ID       string `yaml:"id,omitempty" json:"id,omitempty" doc:"optional constraint id"`
	Resource string `yaml:"resource" json:"resource" doc:"the dependent resource (placed after 'with')"`
	With     string `yaml:"with" json:"with" doc:"the resource it follows"`
	Score    Score  `yaml:"score" json:"score" doc:"INFINITY: must run with; -INFINITY: never with; finite: preference"`
}

// Order kinds.
const (
	OrderMandatory = "mandatory"
	OrderOptional  = "optional"
	OrderSerialize = "serialize"
)

// Order: start `then` after `first`.
type Order struct {
	Pos         `yaml:"-" json:"-"`
	ID          string `yaml:"id,omitempty" json:"id,omitempty" doc:"optional constraint id"`
	First       string `yaml:"first" json:"first" doc:"resource started first"`
	Then        string `yaml:"then" json:"then" doc:"resource started after 'first'"`
	Kind        string `yaml:"kind,omitempty" json:"kind,omitempty" enum:"mandatory,optional,serialize" doc:"mandatory (the default): then starts only after first; optional and serialize are refused, the nodes do not carry them out"`
	Symmetrical *bool  `yaml:"symmetrical,omitempty" json:"symmetrical,omitempty" doc:"stop in reverse order too: true (the default); false is refused, the nodes always stop then before first"`
}

// IsSymmetrical returns the effective symmetrical flag (default true, except serialize).
func (o Order) IsSymmetrical() bool {
	if o.Symmetrical != nil {
		return *o.Symmetrical
	}
	return o.Kind != OrderSerialize
}

// KindOrDefault returns the order kind (default mandatory).
func (o Order) KindOrDefault() string {
	if o.Kind == "" {
		return OrderMandatory
	}
	return o.Kind
}
