package session

import (
	"fmt"
	"strings"

	"reddwarf/infer"
)

// Info renders INFO's inference or model section.
func (e *Engine) Info(section string) []string {
	switch section {
	case "inference":
		pages, bytes := e.KVUsage()
		st := e.stats
		return []string{
			fmt.Sprintf("sessions:%d", e.live.Len()),
			fmt.Sprintf("active_gens:%d", len(e.running)),
			fmt.Sprintf("queued_gens:%d", len(e.queued)),
			fmt.Sprintf("tokens_prefilled:%d", st.TokensPrefilled),
			fmt.Sprintf("tokens_generated:%d", st.TokensGenerated),
			fmt.Sprintf("prefix_cache_hit_tokens:%d", st.PrefixHitTokens),
			fmt.Sprintf("prefix_disk_hit_tokens:%d", st.DiskHitTokens),
			fmt.Sprintf("prefix_cache_pages:%d", e.cache.Pages()),
			fmt.Sprintf("format_mask_cache_bytes:%d", e.maskCacheBytes()),
			fmt.Sprintf("kv_bytes:%d", bytes),
			fmt.Sprintf("kv_pages:%d", pages),
			fmt.Sprintf("kv_page_tokens:%d", infer.PageTokens),
			fmt.Sprintf("engine_steps:%d", st.Steps),
			fmt.Sprintf("last_step_ms:%.3f", float64(st.LastStep.Microseconds())/1000),
		}
	case "model":
		var out []string
		for _, f := range e.Model.Info() {
			out = append(out, fmt.Sprintf("%s:%v", strings.ReplaceAll(f.Key, " ", "_"), f.Value))
		}
		return append(out, fmt.Sprintf("threads:%d", e.Model.Threads()), fmt.Sprintf("kv_cache_type:%s", e.Model.Arch().KVLayout().Type))
	}
	return nil
}

// KVUsage counts the distinct KV pages held by sessions, running jobs and
// the prefix cache, and their bytes (a shared page counts once) with the
// states the cache keeps for deepseek4.
func (e *Engine) KVUsage() (pages int, bytes int64) {
	seen := map[infer.PageRef]struct{}{}
	var refs []infer.PageRef
	e.live.each(func(s *Session) {
		refs = s.State.PageRefs(refs[:0])
		for _, r := range refs {
			seen[r] = struct{}{}
		}
	})
	for _, j := range e.running {
		if j.st != nil {
			for _, r := range j.st.PageRefs(nil) {
				seen[r] = struct{}{}
			}
		}
	}
	for _, r := range e.cache.CachedPageRefs(nil) {
		seen[r] = struct{}{}
	}
	return len(seen), int64(len(seen))*e.pageBytes() + e.cache.SnapshotBytes()
}
