package redistests

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README names the Go version go.mod asks for, and the MODEL fields
// the server replies.
func TestReadmeMatchesTheTree(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	if !strings.Contains(string(readme), "needs Go "+string(m[1])+" or later") {
		t.Errorf("README does not say it needs Go %s (go.mod)", m[1])
	}
	onlyReddwarf(t)
	c := client(t)
	fields := do(t, c, "MODEL").([]any)
	var names []string
	for i := 0; i < len(fields); i += 2 {
		names = append(names, fields[i].(string))
	}
	if list := strings.Join(names, ", "); !strings.Contains(string(readme), list) {
		t.Errorf("README does not list MODEL's fields as %q", list)
	}
}
