package test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/havenha/haven"

type listedPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Deps       []string
}

// goList returns every package of the module with its doc line and deps.
func goList(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// TestLayout_EveryPackageHasDocComment enforces CONVENTIONS.md habit 11.
func TestLayout_EveryPackageHasDocComment(t *testing.T) {
	for _, p := range goList(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment; add a doc.go saying what it owns", p.ImportPath)
		}
	}
}

// forbidden lists, per package prefix, imports that break the dependency
// direction of DESIGN.md §1 and CONVENTIONS.md.
var heavy = []string{
	"github.com/hashicorp/raft", "github.com/hashicorp/memberlist", "github.com/vishvananda/netlink",
	"github.com/gostor/gotgt", "github.com/bougou/go-ipmi",
}

func hasPrefixAny(s string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return p, true
		}
	}
	return "", false
}

// TestLayout_EngineCoreImportsNoInfrastructure: the engine's core packages
// import none of raft, memberlist, netlink, gotgt or go-ipmi, even indirectly.
func TestLayout_EngineCoreImportsNoInfrastructure(t *testing.T) {
	core := []string{"engine", "engine/model", "engine/config", "engine/state", "engine/scheduler",
		"engine/clock", "engine/lease", "engine/reconcile", "engine/coord", "engine/controller",
		"engine/api", "engine/agent", "engine/agent/alert", "engine/agent/ping", "engine/agent/internal/agentkit",
		"engine/cib", "engine/quorum", "engine/admin"}
	pkgs := map[string]bool{}
	for _, p := range goList(t) {
		pkgs[p.ImportPath] = true
	}
	for _, c := range core {
		path := module + "/" + c
		if !pkgs[path] {
			continue // not written yet
		}
		out, err := exec.Command("go", "list", "-deps", path).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", path, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if lib, bad := hasPrefixAny(dep, heavy); bad {
				t.Errorf("%s depends on %s (via %s); engine core packages must not know how %s works — declare an interface in engine and implement it outside", c, lib, dep, lib)
			}
		}
	}
}

// decision lists the packages that decide (and the one that composes
// them): what runs where, when a lost node's resources may start
// elsewhere, what a node does when its lease lapses. They are tested with
// fakes and a fake clock, so they import no resource agent and no socket
// code; the agents (engine/agent) and the transports (leasewire, consensus,
// membership) are given to them through interfaces by cmd/haven.
var decision = []string{"engine/model", "engine/config", "engine/state", "engine/scheduler", "engine/quorum",
	"engine/clock", "engine/lease", "engine/reconcile", "engine/coord", "engine/controller"}

// noAgentNorSocket: the resource agents (engine/agent and the packages
// below it: alert, ping, their helpers), the raw-socket helpers and the
// standard library's socket package (net/http and the rest import it;
// net/netip, plain values, does not).
var noAgentNorSocket = []string{module + "/engine/agent", module + "/internal/rawudp", module + "/internal/rawtcp", "net"}

// isOrUnder: dep is bad, or for a haven package one below it (the agents
// are several packages; "net" is matched exactly, since net/netip is fine).
func isOrUnder(dep, bad string) bool {
	return dep == bad || strings.HasPrefix(bad, module+"/") && strings.HasPrefix(dep, bad+"/")
}

// TestLayout_DecisionPackagesImportNoAgentNorSockets: the decision packages
// depend, even indirectly, on neither engine/agent nor any socket code.
func TestLayout_DecisionPackagesImportNoAgentNorSockets(t *testing.T) {
	pkgs := map[string]bool{}
	for _, p := range goList(t) {
		pkgs[p.ImportPath] = true
	}
	for _, d := range decision {
		path := module + "/" + d
		if !pkgs[path] {
			t.Errorf("decision package %s does not exist; update the list in layout_test.go", d)
			continue
		}
		out, err := exec.Command("go", "list", "-deps", path).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", path, err)
		}
		deps := strings.Fields(string(out))
		for _, bad := range noAgentNorSocket {
			for _, dep := range deps {
				if isOrUnder(dep, bad) {
					t.Errorf("%s depends on %s; decision packages take agents (model.TypeLookup) and transports (lease.Renewer, coord.Log) through interfaces — implement them outside (leasewire, engine/agent) and wire them in cmd/haven", d, strings.TrimPrefix(dep, module+"/"))
				}
			}
		}
	}
}

// TestLayout_DependencyDirection: which haven folders each folder may import.
// internal/ holds leaf helpers (internal/rawudp) that any layer may use; they
// import nothing from haven but each other.
func TestLayout_DependencyDirection(t *testing.T) {
	// engine/quorum is the one votequorum arithmetic, pure like engine/model:
	// membership feeds it the live members, and `haven simulate` asks it the
	// same question offline; consensus sizes raft's voter set against its
	// quorum. Membership and consensus may import it because it is a
	// decision the engine owns (infrastructure depends on the engine, never
	// the reverse). It may import only engine/model from haven, so it can
	// never pull membership (and memberlist with it) into the engine.
	allowed := map[string][]string{ // folder -> haven folders it may import
		"engine/model":      {},
		"engine/quorum":     {"engine/model"},
		"engine/clock":      {},
		"engine/lease":      {"engine/clock", "engine/model"},
		"engine/reconcile":  {"engine/model", "engine/state", "engine/clock", "engine/lease"},
		"engine/coord":      {"engine/model", "engine/state", "engine/scheduler", "engine/clock", "engine/lease"},
		"engine/controller": {"engine/model", "engine/state", "engine/clock", "engine/lease", "engine/reconcile", "engine/coord"},
		"leasewire":         {"engine/lease", "leasewire"},
		"vip":               {"engine/model", "vip", "test/netns"},
		"iscsi":             {"engine/model", "iscsi", "storage"},
		"fencing":           {"engine/model", "fencing"},
		"membership":        {"engine/model", "engine/quorum", "membership"},
		"consensus":         {"engine/model", "engine/quorum", "engine/state", "consensus", "storage"},
		"storage":           {"engine/model", "storage"},
		// The operator service decides from the state and the scheduler; it
		// sees the running node only through the interfaces it declares.
		"engine/admin": {"engine/model", "engine/config", "engine/state", "engine/scheduler", "engine/api"},
	}
	for _, p := range goList(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if strings.HasPrefix(rel, "internal/") {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, module+"/") && !strings.HasPrefix(imp, module+"/internal/") {
					t.Errorf("%s imports %s; internal/ packages are leaves and import nothing from haven but internal/", rel, strings.TrimPrefix(imp, module+"/"))
				}
			}
		}
		for folder, ok := range allowed {
			if rel != folder && !strings.HasPrefix(rel, folder+"/") {
				continue
			}
			for _, imp := range p.Imports {
				if !strings.HasPrefix(imp, module+"/") {
					continue
				}
				target := strings.TrimPrefix(imp, module+"/")
				if strings.HasPrefix(target, "internal/") {
					continue // leaf helpers, open to every layer (checked below)
				}
				if _, fine := hasPrefixAny(target, ok); !fine {
					t.Errorf("%s imports %s; %s may import only %v from haven", rel, target, folder, ok)
				}
			}
		}
	}
}

// TestLayout_NodeIsTheCompositionRoot: node assembles every component, so
// only the binary (cmd/) and the test suites (test/) may import it; a
// component importing it would run the assembly inside itself.
func TestLayout_NodeIsTheCompositionRoot(t *testing.T) {
	for _, p := range goList(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if rel == "node" || strings.HasPrefix(rel, "cmd/") || rel == "test" || strings.HasPrefix(rel, "test/") {
			continue
		}
		for _, imp := range p.Imports {
			if imp == module+"/node" {
				t.Errorf("%s imports node; only cmd/ and test/ may (node is the composition root)", rel)
			}
		}
	}
}
