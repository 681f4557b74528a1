//go:build !unix

package server

// fitOpenFilesLimit has no descriptor limit to raise here: every
// maxclients fits.
func fitOpenFilesLimit(maxclients int) int { return maxclients }
