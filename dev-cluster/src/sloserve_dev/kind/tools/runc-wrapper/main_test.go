package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFileToAdjustFindsTheBundleOrTheProcessFile(t *testing.T) {
	cases := []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"--root", "/r", "create", "--bundle", "/b", "id"}, "/b/config.json", true},
		{[]string{"run", "-b=/c", "id"}, "/c/config.json", true},
		{[]string{"exec", "--process", "/tmp/p.json", "id"}, "/tmp/p.json", true},
		{[]string{"exec", "id", "sh"}, "", false},
		{[]string{"delete", "id"}, "", false},
	}
	for _, c := range cases {
		got, ok := fileToAdjust(c.args)
		if got != c.want || ok != c.ok {
			t.Errorf("fileToAdjust(%v) = %q, %v; want %q, %v", c.args, got, ok, c.want, c.ok)
		}
	}
}

func TestAdjustDropsTheCapabilityAndCapsRlimits(t *testing.T) {
	var own syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &own); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	spec := `{"ociVersion": "1.0.2", "process": {"capabilities": {
		"bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"], "effective": ["CAP_SYS_RESOURCE"]},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 1024}]},
		"linux": {"uidMappings": []}}`
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := adjust(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "CAP_SYS_RESOURCE") {
		t.Errorf("CAP_SYS_RESOURCE still in %s", raw)
	}
	var adjusted struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			Capabilities map[string][]string `json:"capabilities"`
			Rlimits      []struct {
				Hard uint64 `json:"hard"`
				Soft uint64 `json:"soft"`
			} `json:"rlimits"`
		} `json:"process"`
	}
	if err := json.Unmarshal(raw, &adjusted); err != nil {
		t.Fatal(err)
	}
	if got := adjusted.Process.Capabilities["bounding"]; len(got) != 1 || got[0] != "CAP_CHOWN" {
		t.Errorf("bounding = %v; want [CAP_CHOWN]", got)
	}
	if limit := adjusted.Process.Rlimits[0]; limit.Hard != own.Max || limit.Soft != 1024 {
		t.Errorf("rlimit = %+v; want hard %d, soft 1024", limit, own.Max)
	}
	if adjusted.OCIVersion != "1.0.2" || !strings.Contains(string(raw), "uidMappings") {
		t.Errorf("other fields were lost: %s", raw)
	}
}

func TestAnExecProcessFileIsAdjustedAtItsTop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(path, []byte(`{"args": ["sh"], "capabilities": {"bounding": ["CAP_SYS_RESOURCE", "CAP_KILL"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := adjust(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "CAP_SYS_RESOURCE") || !strings.Contains(string(raw), "CAP_KILL") {
		t.Errorf("adjusted process file: %s", raw)
	}
}

func TestOOMScoreAdjStaysAtOrAboveOurOwn(t *testing.T) {
	own, err := ownOOMScoreAdj()
	if err != nil {
		t.Skip("no /proc/self/oom_score_adj")
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"process": {"oomScoreAdj": -998}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := adjust(path); err != nil {
		t.Fatal(err)
	}
	var adjusted struct {
		Process struct {
			OOMScoreAdj int `json:"oomScoreAdj"`
		} `json:"process"`
	}
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &adjusted); err != nil {
		t.Fatal(err)
	}
	want := own
	if want < -998 {
		want = -998
	}
	if adjusted.Process.OOMScoreAdj != want {
		t.Errorf("oomScoreAdj = %d; want %d", adjusted.Process.OOMScoreAdj, want)
	}
}
