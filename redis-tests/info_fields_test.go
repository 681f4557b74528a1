package redistests

import (
	"strings"
	"testing"
)

// infoFields is the set of field names INFO section prints.
func infoFields(t *testing.T, c doer, section string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, l := range strings.Split(do(t, c, "INFO", section).(string), "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && !strings.HasPrefix(name, "#") {
			out[name] = true
		}
	}
	return out
}

// Monitoring tools (redis_exporter, redis-cli --stat, Redis's own tests) read
// these sections by field name: every field Redis 7.0 prints must be there,
// even where reddwarf's value is a constant (no replicas, no AOF, no Lua,
// no modules, no fork).
func TestInfoMemoryStatsClientsPersistenceHaveEveryRedis70Field(t *testing.T) {
	c := client(t)
	ref := referenceRedis(t)
	for _, section := range []string{"memory", "stats", "clients", "persistence"} {
		mine := infoFields(t, c, section)
		theirs := infoFields(t, ref, section)
		if len(theirs) < 5 {
			t.Fatalf("Redis's INFO %s has %d fields", section, len(theirs))
		}
		for _, f := range sortedKeys(theirs) {
			if !mine[f] {
				t.Errorf("INFO %s lacks %s", section, f)
			}
		}
	}
	// Redis's maxmemory test subtracts this from used_memory; with no
	// replica or AOF buffers it is 0.
	if v := do(t, c, "INFO", "memory").(string); !strings.Contains(v, "\r\nmem_not_counted_for_evict:0\r\n") {
		t.Errorf("INFO memory has no mem_not_counted_for_evict:0")
	}
}
