package state

import (
	"testing"
)

// FuzzValidatedCommandsApply checks the contract between Validate and Apply:
// whatever passes the proposer's check is applied without a panic (a panic
// in Apply stops a replica), and applying it twice at two indexes on two
// fresh replicas gives the same snapshot.
func FuzzValidatedCommandsApply(f *testing.F) {
	for _, e := range randomLog(f, 7, 40) {
		f.Add(e)
	}
	f.Add([]byte(`{"type":"node.standby","v":1,"time":"2026-03-01T00:00:00Z","body":{"node":"a","on":true}}`))
	f.Add([]byte(`{"type":"resource.move","v":1,"time":"2026-03-01T00:00:00Z","body":{"resource":"r","node":"n","lifetime":"10min"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if Validate(b) != nil {
			return
		}
		x, y := New(Options{}), New(Options{})
		x.Apply(1, b)
		y.Apply(1, b)
		x.Apply(2, b)
		y.Apply(2, b)
		sx, _ := x.Snapshot()
		sy, _ := y.Snapshot()
		if string(sx) != string(sy) {
			t.Fatalf("replicas differ after the same command")
		}
	})
}
