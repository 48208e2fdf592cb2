package stamps

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRead_PairsStartsWithStopsByPID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "events")
	log := "start 10 n1 100 web\nstart 20 n2 200 web\nbroken line\nkill 30 n1 100 web\nstop 40 n1 100 web\nstart 50 n3 300\n"
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []Interval{
		{Resource: "web", Node: "n1", PID: 100, Start: 10, Stop: 30, How: "kill"},
		{Resource: "web", Node: "n2", PID: 200, Start: 20},
		{Node: "n3", PID: 300, Start: 50},
	}
	if got := Read(p); !reflect.DeepEqual(got, want) {
		t.Errorf("Read = %+v\nwant %+v", got, want)
	}
	if got := Read(filepath.Join(t.TempDir(), "missing")); got != nil {
		t.Errorf("missing file: %+v", got)
	}
}
