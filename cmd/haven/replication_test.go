package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/config"
)

func TestWriteFileAtomic_KeepsModeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "haven.yaml")
	if err := os.WriteFile(p, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "new" || st.Mode().Perm() != 0o640 {
		t.Fatalf("content %q mode %v, want new and 0640", b, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left files behind: %v", entries)
	}
	fresh := filepath.Join(dir, "fresh.yaml")
	if err := writeFileAtomic(fresh, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestChooseWitness(t *testing.T) {
	cl, err := config.Parse("w.yaml", []byte(`cluster: {name: c, key_file: k}
nodes:
  - {name: n1, addresses: [10.0.0.1]}
  - {name: n2, addresses: [10.0.0.2]}
  - {name: w, addresses: [10.0.0.3], role: witness}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := chooseWitness(cl, "", "w.yaml"); err != nil || n.Name != "w" {
		t.Fatalf("default witness: %v %v", n, err)
	}
	if _, err := chooseWitness(cl, "n1", "w.yaml"); err == nil || !strings.Contains(err.Error(), "node n1 is not a witness in w.yaml; expected one of w") {
		t.Fatalf("member as witness: %v", err)
	}
	if _, err := chooseWitness(cl, "zz", "w.yaml"); err == nil || !strings.Contains(err.Error(), `node "zz" is not in the configuration`) {
		t.Fatalf("unknown node: %v", err)
	}
}
