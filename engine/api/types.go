package api

// QuorumView is GET /v1/quorum, the `quorum` object of `status --json`
// (DESIGN.md §8). Add fields; never rename these.
type QuorumView struct {
	Quorate         bool         `json:"quorate"`
	ExpectedVotes   int          `json:"expected_votes"`
	HighestExpected int          `json:"highest_expected"`
	TotalVotes      int          `json:"total_votes"`
	Quorum          int          `json:"quorum"`
	Flags           []string     `json:"flags"`
	Members         []MemberView `json:"members"`
}

// MemberView is one configured node as the answering node sees it.
type MemberView struct {
	Name   string     `json:"name"`
	Votes  int        `json:"votes"`
	Online bool       `json:"online"`
	Links  []LinkView `json:"links"`
	// State is online, dead (failed), left (stopped gracefully) or unseen
	// (not seen since the answering agent started).
	State string `json:"state,omitempty"`
	// Local marks the answering node.
	Local bool `json:"local,omitempty"`
}

// LinkView is one link (one address of the node) and whether the answering
// node reaches the node over it.
type LinkView struct {
	Link    int    `json:"link"`
	Address string `json:"address"`
	Up      bool   `json:"up"`
}

// ErrorBody is the JSON of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}
