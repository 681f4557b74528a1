package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpListsEveryCommand: the help names every subcommand Lookup finds,
// and points to the directives.
func TestHelpListsEveryCommand(t *testing.T) {
	var b bytes.Buffer
	Help(&b)
	help := b.String()
	for _, name := range []string{"check", "bench", "synth", "tokenize"} {
		if _, ok := Lookup(name); !ok {
			t.Errorf("Lookup(%q) found nothing", name)
		}
		if !strings.Contains(help, "reddwarf "+name+" ") {
			t.Errorf("help does not list %s:\n%s", name, help)
		}
	}
	if !strings.Contains(help, "Directives") || !strings.Contains(help, "README.md") {
		t.Errorf("help does not point to the directives:\n%s", help)
	}
	if _, ok := Lookup("serve"); ok {
		t.Error("Lookup(\"serve\") found a command")
	}
}
