package agentkit

import (
	"errors"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/model"
)

func TestDecodeProblems_NamesTheKey(t *testing.T) {
	var out struct {
		Command string `json:"command"`
		Port    int    `json:"port"`
	}
	for _, c := range []struct {
		params  map[string]any
		wantKey string
	}{
		{map[string]any{"command": "x", "port": 80}, ""},
		{map[string]any{"comand": "x"}, "comand"},
		{map[string]any{"command": []any{1}}, "command"},
		{map[string]any{"port": "eighty"}, "port"},
	} {
		ps := DecodeProblems(c.params, &out)
		switch {
		case c.wantKey == "" && ps != nil:
			t.Errorf("%v: problems %v, want none", c.params, ps)
		case c.wantKey != "" && (len(ps) != 1 || ps[0].Key != c.wantKey || ps[0].Msg == ""):
			t.Errorf("%v: problems %v, want one naming key %q", c.params, ps, c.wantKey)
		}
	}
}

func TestProblemsErr(t *testing.T) {
	if err := ProblemsErr("exec", nil); err != nil {
		t.Fatalf("no problems gave %v", err)
	}
	err := ProblemsErr("exec", []model.ParamProblem{{Key: "command", Msg: "required"}, {Msg: "bad"}})
	if !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("%v does not wrap ErrNotConfigured", err)
	}
	for _, want := range []string{`exec param "command": required`, "exec params: bad"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
