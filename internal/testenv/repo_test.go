package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module root (the folder holding go.mod) above this
// package's folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	p, err := packagesFile()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(p))
}

// eachGoFile parses every Go file of the module (testdata excluded).
func eachGoFile(t *testing.T, f func(rel string, fset *token.FileSet, file *ast.File)) {
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || n == "vendor" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		f(filepath.ToSlash(rel), fset, file)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRepo_EverySkipGoesThroughTestenv: a bare t.Skip cannot say whether CI
// may skip it, so the summariser fails it under CI=true; this finds it
// before CI does. Methods named Skip* that forward to their own receiver
// (test/bench's testing.TB) are not skips of a test.
func TestRepo_EverySkipGoesThroughTestenv(t *testing.T) {
	found := 0
	eachGoFile(t, func(rel string, fset *token.FileSet, file *ast.File) {
		if strings.HasPrefix(rel, "internal/testenv/") {
			return
		}
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if ok && fd.Recv != nil && strings.HasPrefix(fd.Name.Name, "Skip") {
				continue
			}
			ast.Inspect(decl, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "testenv" {
					found++
					return true
				}
				switch sel.Sel.Name {
				case "Skip", "Skipf", "SkipNow":
					t.Errorf("%s: %s.%s: skip with internal/testenv instead (testenv.Skip with a reason CI accepts, or testenv.Missing for what CI provides)",
						fset.Position(call.Pos()), exprName(sel.X), sel.Sel.Name)
				}
				return true
			})
		}
	})
	if found == 0 {
		t.Fatal("no testenv call found in the repository: is the walk reading the right folder?")
	}
}

// TestRepo_PackagesNamedByTestsAreListed: every package a test names in
// testenv.MissingPackage is in .ci/packages, so `make test` installs it even
// on a machine where it happens to be there already.
func TestRepo_PackagesNamedByTestsAreListed(t *testing.T) {
	path, err := packagesFile()
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := ReadPackages(path)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, alts := range pkgs {
		for _, p := range alts {
			listed[p] = true
		}
	}
	named := 0
	eachGoFile(t, func(rel string, fset *token.FileSet, file *ast.File) {
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "MissingPackage" || exprName(sel.X) != "testenv" {
				return true
			}
			lit, ok := call.Args[1].(*ast.BasicLit)
			if !ok {
				return true // computed (one of several packages): checked when it runs
			}
			pkg, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
				return true
			}
			named++
			if !listed[pkg] {
				t.Errorf("%s: testenv.MissingPackage names %s, which .ci/packages does not list; add it there", fset.Position(lit.Pos()), pkg)
			}
			return true
		})
	})
	if named == 0 {
		t.Fatal("no testenv.MissingPackage call with a literal package found")
	}
}

func exprName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "…"
}

// TestDeps_StopsNamingWhatIsMissingWhenNotRoot runs .ci/deps as nobody on a
// list with a package that exists nowhere: it must stop at once, name it
// and the command that installs it, and not name what is installed.
func TestDeps_StopsNamingWhatIsMissingWhenNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		Missing(t, "needs root to run .ci/deps as another user")
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		Missing(t, "needs dpkg-query: .ci/packages is a list of Debian packages")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		MissingPackage(t, "util-linux", "setpriv is not installed")
	}
	root := repoRoot(t)
	// In /tmp itself: t.TempDir's folders are closed to other users.
	f, err := os.CreateTemp("", "haven-packages-*")
	if err != nil {
		t.Fatal(err)
	}
	list := f.Name()
	t.Cleanup(func() { os.Remove(list) })
	_, err = f.WriteString("coreutils # there\nhaven-no-such-pkg|haven-nor-this # nowhere\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(list, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", filepath.Join(root, ".ci", "deps"))
	cmd.Env = append(os.Environ(), "HAVEN_PACKAGES="+list)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf(".ci/deps as nobody with a missing package succeeded:\n%s", out)
	}
	for _, want := range []string{"missing Debian packages", "haven-no-such-pkg", "sudo apt-get install -y --no-install-recommends haven-no-such-pkg"} {
		if !strings.Contains(string(out), want) {
			t.Errorf(".ci/deps output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "coreutils") {
		t.Errorf(".ci/deps names an installed package:\n%s", out)
	}
}
