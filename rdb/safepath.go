package rdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrPathEscapes is returned for a state-file name that would leave dir.
var ErrPathEscapes = errors.New("path escapes the data directory")

// PathInDir resolves name (SAVE key file / LOAD key file) inside dir. It
// refuses absolute names, any ".." element, and names whose existing
// part resolves through a symlink to outside dir. The file itself need not
// exist.
func PathInDir(dir, name string) (string, error) {
	if name == "" || filepath.IsAbs(name) || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%q: %w", name, ErrPathEscapes)
	}
	for _, el := range strings.Split(filepath.ToSlash(name), "/") {
		if el == ".." {
			return "", fmt.Errorf("%q: %w", name, ErrPathEscapes)
		}
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("data directory %s: %w", dir, err)
	}
	p := filepath.Join(root, filepath.Clean(name))
	// Resolve the longest existing prefix of p and check it stays in root.
	probe := p
	for {
		real, err := filepath.EvalSymlinks(probe)
		if err == nil {
			if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
				return "", fmt.Errorf("%q resolves to %s: %w", name, real, ErrPathEscapes)
			}
			break
		}
		if !os.IsNotExist(err) {
			return "", err
		}
		parent := filepath.Dir(probe)
		if parent == probe {
			break
		}
		probe = parent
	}
	return p, nil
}
