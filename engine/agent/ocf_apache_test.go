package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

// TestOCF_ApacheInNamespace runs resource-agents' apache script (seed 001's
// serviceWeb) on a private configuration, inside a test network namespace so
// that port 80 is its own.
func TestOCF_ApacheInNamespace(t *testing.T) {
	needScript(t, "heartbeat", "apache")
	if _, err := os.Stat("/usr/sbin/apache2"); err != nil {
		testenv.MissingPackage(t, "apache2", "/usr/sbin/apache2 is not installed")
	}
	ns := agenttest.Netns(t)
	dir := t.TempDir()
	// The workers run as www-data: let them reach the document root.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	htdocs := filepath.Join(dir, "htdocs")
	os.MkdirAll(htdocs, 0o755)
	os.WriteFile(filepath.Join(htdocs, "index.html"), []byte("<html>served by haven test</html>\n"), 0o644)
	mods := "/usr/lib/apache2/modules/"
	conf := filepath.Join(dir, "apache2.conf")
	cfg := strings.Join([]string{
		"ServerRoot " + dir,
		"ServerName localhost",
		"Listen 127.0.0.1:80",
		"PidFile " + filepath.Join(dir, "apache2.pid"),
		"ErrorLog " + filepath.Join(dir, "error.log"),
		"Mutex file:" + dir + " default",
		"LoadModule mpm_prefork_module " + mods + "mod_mpm_prefork.so",
		"LoadModule authz_core_module " + mods + "mod_authz_core.so",
		"LoadModule status_module " + mods + "mod_status.so",
		"LoadModule dir_module " + mods + "mod_dir.so",
		"LoadModule authz_host_module " + mods + "mod_authz_host.so",
		"User www-data",
		"Group www-data",
		"StartServers 1",
		"MinSpareServers 1",
		"MaxSpareServers 2",
		"DocumentRoot " + htdocs,
		"ExtendedStatus On",
		"<Directory />",
		"  AllowOverride None",
		"</Directory>",
		"<Location /server-status>",
		"  SetHandler server-status",
		"  Require local",
		"</Location>",
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	typ := lookupOCF(t, NewRegistry(OCFOptions{Prefix: []string{"ip", "netns", "exec", ns}}), "ocf:heartbeat:apache")
	res := model.Resource{ID: "serviceWeb", Params: map[string]any{
		"configfile": conf, "httpd": "/usr/sbin/apache2", "statusurl": "http://127.0.0.1:80/server-status",
	}}
	a := agenttest.MustNew(t, typ, res, agenttest.Env(t))
	t.Cleanup(func() { a.Stop(agenttest.OpCtx(t, 30*time.Second)) })
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 40*time.Second)); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("%v\nerror.log:\n%s", err, b)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	out, err := exec.Command("ip", "netns", "exec", ns, "curl", "-sS", "http://127.0.0.1/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "served by haven test") {
		t.Fatalf("page from the namespace: %v: %s", err, out)
	}
	if err := a.Start(agenttest.OpCtx(t, 40*time.Second)); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if _, err := os.Stat(filepath.Join(dir, "apache2.pid")); err == nil {
		t.Error("pid file left after stop")
	}
}
