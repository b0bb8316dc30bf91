// Command runc-wrapper stands in for runc on machines that never grant CAP_SYS_RESOURCE (some
// sandboxed VMs): a container asking for that capability, as every privileged container does,
// fails there with "unable to apply caps: operation not permitted". Before `create` and `run`
// it removes that one capability from the bundle's config.json, and before `exec` from the
// process file; it also caps the process's rlimits at this process's own hard limits and keeps
// its oom_score_adj from going below this process's (both need the same capability: kubelet
// asks -998 for pod sandboxes), then runs the real runc with the same arguments. Where the capability is granted it changes
// nothing.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const capSysResource = 24

// Real runc binaries looked for, in order; the first that is not this program runs.
var realRuncCandidates = []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"}

// rlimit resource numbers of linux/x86_64 by OCI name.
var rlimitResources = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

func main() {
	real, err := realRunc()
	if err != nil {
		fail(err)
	}
	if file, ok := fileToAdjust(os.Args[1:]); ok && !granted(capSysResource) {
		if err := adjust(file); err != nil {
			fail(err)
		}
	}
	argv := append([]string{real}, os.Args[1:]...)
	fail(syscall.Exec(real, argv, os.Environ()))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "runc-wrapper: %v\n", err)
	os.Exit(1)
}

func realRunc() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	self, _ = filepath.EvalSymlinks(self)
	for _, candidate := range realRuncCandidates {
		resolved, err := filepath.EvalSymlinks(candidate)
		if err == nil && resolved != self {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("no runc found in %s", strings.Join(realRuncCandidates, ", "))
}

// fileToAdjust finds the spec a command starts a process from: the bundle's config.json for
// `create` and `run` (--bundle/-b, else the working directory), the --process/-p file for
// `exec` (without one, exec takes its process from the container's own, adjusted, spec).
func fileToAdjust(args []string) (string, bool) {
	for i, arg := range args {
		rest := args[i+1:]
		switch arg {
		case "create", "run":
			if bundle, ok := flagValue(rest, "--bundle", "-b"); ok {
				return filepath.Join(bundle, "config.json"), true
			}
			wd, err := os.Getwd()
			return filepath.Join(wd, "config.json"), err == nil
		case "exec":
			if process, ok := flagValue(rest, "--process", "-p"); ok {
				return process, true
			}
			return "", false
		}
	}
	return "", false
}

func flagValue(args []string, names ...string) (string, bool) {
	for i, arg := range args {
		for _, name := range names {
			if arg == name && i+1 < len(args) {
				return args[i+1], true
			}
			if value, found := strings.CutPrefix(arg, name+"="); found {
				return value, true
			}
		}
	}
	return "", false
}

// granted reads this process's bounding set from /proc/self/status.
func granted(capability uint) bool {
	file, err := os.Open("/proc/self/status")
	if err != nil {
		return true
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		if hex, found := strings.CutPrefix(scanner.Text(), "CapBnd:"); found {
			set, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err != nil || set&(1<<capability) != 0
		}
	}
	return true
}

func adjust(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber() // keeps 64-bit limits exact
	var spec map[string]any
	if err := decoder.Decode(&spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// A bundle's config.json holds the process under "process"; an exec process file is one.
	process, _ := spec["process"].(map[string]any)
	if process == nil {
		process = spec
	}
	if capabilities, ok := process["capabilities"].(map[string]any); ok {
		for set, value := range capabilities {
			names, _ := value.([]any)
			kept := make([]any, 0, len(names))
			for _, name := range names {
				if name != "CAP_SYS_RESOURCE" {
					kept = append(kept, name)
				}
			}
			capabilities[set] = kept
		}
	}
	if wanted, ok := process["oomScoreAdj"].(json.Number); ok {
		if own, err := ownOOMScoreAdj(); err == nil {
			if value, err := strconv.Atoi(wanted.String()); err == nil && value < own {
				process["oomScoreAdj"] = json.Number(strconv.Itoa(own))
			}
		}
	}
	if rlimits, ok := process["rlimits"].([]any); ok {
		for _, entry := range rlimits {
			capRlimit(entry)
		}
	}
	adjusted, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(path, adjusted, 0o600)
}

func ownOOMScoreAdj() (int, error) {
	raw, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

func capRlimit(entry any) {
	limit, _ := entry.(map[string]any)
	if limit == nil {
		return
	}
	name, _ := limit["type"].(string)
	resource, known := rlimitResources[name]
	if !known {
		return
	}
	var own syscall.Rlimit
	if syscall.Getrlimit(resource, &own) != nil {
		return
	}
	for _, key := range []string{"hard", "soft"} {
		number, _ := limit[key].(json.Number)
		value, err := strconv.ParseUint(number.String(), 10, 64)
		if err == nil && value > own.Max {
			limit[key] = json.Number(strconv.FormatUint(own.Max, 10))
		}
	}
}
