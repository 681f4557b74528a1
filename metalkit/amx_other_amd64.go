//go:build !linux && !noasm

package metalkit

// requestTileState: the tile state is requested only on Linux.
func requestTileState() bool { return false }
