package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"reddwarf/persist/store"
)

// checkStore checks the session store in dir (the server's
// dir/appenddirname): it finds the manifest (<appendfilename>.manifest)
// and reads every file it names with store.Check, which changes nothing.
func checkStore(dir string, stdout, stderr io.Writer) int {
	manifests, _ := filepath.Glob(filepath.Join(dir, "*.manifest"))
	if len(manifests) != 1 {
		fmt.Fprintf(stderr, "check: %s: want one *.manifest in the directory, found %d\n", dir, len(manifests))
		return 1
	}
	name := strings.TrimSuffix(filepath.Base(manifests[0]), ".manifest")
	fmt.Fprintf(stdout, "%s: session store %s\n", dir, name)
	if err := store.Check(dir, name, stdout); err != nil {
		fmt.Fprintf(stderr, "check: %s: FAILED: %v\n", dir, err)
		return 1
	}
	fmt.Fprintln(stdout, "OK")
	return 0
}
