package main

import (
	"strings"
	"testing"

	"github.com/havenha/haven/engine/config"
)

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
