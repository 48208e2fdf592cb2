package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
)

func TestPrintQuorum_LikePcsStatusCorosync(t *testing.T) {
	q := api.QuorumView{Quorate: true, ExpectedVotes: 8, HighestExpected: 8, TotalVotes: 5, Quorum: 5, Flags: []string{"Quorate"},
		Members: []api.MemberView{
			{Name: "sv1", Votes: 2, Online: true, State: "online", Local: true, Links: []api.LinkView{{Link: 0, Address: "127.0.0.1:7946", Up: true}}},
			{Name: "cl1", Votes: 1, Online: false, State: "dead", Links: []api.LinkView{{Link: 0, Address: "127.0.0.3:7946"}, {Link: 1, Address: "127.0.1.3:7946"}}},
		}}
	var b bytes.Buffer
	printQuorum(&b, q, time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC))
	out := b.String()
	for _, want := range []string{
		"Quorum information\n------------------\n",
		"Nodes:            1\n",
		"Node name:        sv1\n",
		"Quorate:          Yes\n",
		"Votequorum information\n----------------------\n",
		"Expected votes:   8\n",
		"Highest expected: 8\n",
		"Total votes:      5\n",
		"Quorum:           5\n",
		"Flags:            Quorate\n",
		"Membership information\n----------------------\n",
		"        2 sv1 (local) online  0:127.0.0.1:7946 up\n",
		"        1 cl1         dead    0:127.0.0.3:7946 down, 1:127.0.1.3:7946 down\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
