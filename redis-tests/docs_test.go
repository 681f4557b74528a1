package redistests

import (
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// docs/architecture.md's dependency arrows are exactly the imports between
// reddwarf's packages (production code, as go list reports them), and no
// file of the tree points at the team's notes outside it.
func TestDocsArrowsAreImports(t *testing.T) {
	doc, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "```\nmain ──>")
	if start < 0 {
		t.Fatal("docs/architecture.md: no arrow block starting with main")
	}
	block := text[start+4 : start+4+strings.Index(text[start+4:], "```")]
	documented := map[string][]string{}
	last := ""
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case strings.Contains(line, "──>"):
			from, to, _ := strings.Cut(line, "──>")
			last = strings.TrimSpace(from)
			documented[last] = append(documented[last], splitList(to)...)
		case strings.HasSuffix(line, ": no reddwarf imports"):
			for _, p := range splitList(strings.TrimSuffix(line, ": no reddwarf imports")) {
				documented[p] = []string{}
			}
		default: // a continuation of the previous arrow
			documented[last] = append(documented[last], splitList(line)...)
		}
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "reddwarf/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	actual := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		name := strings.TrimPrefix(f[0], "reddwarf/")
		if f[0] == "reddwarf" {
			name = "main"
		}
		if name == "redis-tests" || strings.HasPrefix(name, "bench/") || strings.HasPrefix(name, "tools/") {
			continue // test harnesses and tools, not the server
		}
		deps := []string{}
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, "reddwarf/") {
				deps = append(deps, strings.TrimPrefix(imp, "reddwarf/"))
			}
		}
		actual[name] = deps
	}
	for pkg, deps := range actual {
		d, ok := documented[pkg]
		if !ok {
			t.Errorf("docs/architecture.md does not say what %s imports (%v)", pkg, deps)
			continue
		}
		if a, b := sorted(d), sorted(deps); strings.Join(a, " ") != strings.Join(b, " ") {
			t.Errorf("docs/architecture.md: %s ──> %v, the code imports %v", pkg, a, b)
		}
	}
	for pkg := range documented {
		if _, ok := actual[pkg]; !ok {
			t.Errorf("docs/architecture.md names a package %s that does not exist", pkg)
		}
	}
	grep, _ := exec.Command("git", "-C", "..", "grep", "-n", "-F", "-e", "../"+"shared", "-e", "/work/"+"shared").Output()
	if len(grep) > 0 {
		t.Errorf("files point outside the repository:\n%s", grep)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}
