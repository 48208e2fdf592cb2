package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/havenha/haven/engine/lease"
)

type answer func(node string) (uint64, error)

func (a answer) Renew(_ context.Context, node string, _ lease.Renewal) (uint64, error) {
	return a(node)
}

// An ack is fresh for its node and term only, within the window; a refusal
// records nothing.
func TestAcks_FreshOnlyForTheAckedTermWithinTheWindow(t *testing.T) {
	a := newAcks(answer(func(node string) (uint64, error) {
		if node == "n3" {
			return 0, errors.New("refused")
		}
		return 7, nil
	}))
	if tok, err := a.Renew(context.Background(), "n2", lease.Renewal{Term: 3, Leader: "n1"}); err != nil || tok != 7 {
		t.Fatalf("renew n2: %d, %v", tok, err)
	}
	if _, err := a.Renew(context.Background(), "n3", lease.Renewal{Term: 3, Leader: "n1"}); err == nil {
		t.Fatal("renew n3: expected the refusal to come through")
	}
	if !a.fresh("n2", 3, time.Minute) {
		t.Error("n2 acked term 3: expected fresh")
	}
	for _, tc := range []struct {
		node   string
		term   uint64
		within time.Duration
	}{{"n2", 4, time.Minute}, {"n3", 3, time.Minute}, {"n2", 3, 0}} {
		if a.fresh(tc.node, tc.term, tc.within) {
			t.Errorf("fresh(%s, term %d, within %s): expected false", tc.node, tc.term, tc.within)
		}
	}
}
