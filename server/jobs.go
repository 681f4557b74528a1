package server

// KeyModified ends a write made outside a command handler (a GEN job that
// finishes in an engine step): WATCHers of key are invalidated and the
// change counts for save points, as Ctx.Modified does inside a command.
func (s *Server) KeyModified(db *DB, key string) {
	s.signalModified(db, key)
	s.Dirty++
}
