package server

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// UsedMemory is the Go heap in use, what INFO's used_memory and the
// maxmemory gate read, less the estimated size of keys evicted since the
// last GC cycle (evict.go says why). It is sampled cheaply
// (runtime/metrics), not via a stop-the-world ReadMemStats.
// InfoNoAOFOrModules ends INFO persistence with Redis 7.0's AOF and module
// fork fields. reddwarf has no append-only file and no modules, so they
// keep the values of a Redis that never enabled either: nothing in
// progress, no rewrites, times -1, statuses ok, sizes 0.
var InfoNoAOFOrModules = []string{
	"aof_enabled:0",
	"aof_rewrite_in_progress:0",
	"aof_rewrite_scheduled:0",
	"aof_last_rewrite_time_sec:-1",
	"aof_current_rewrite_time_sec:-1",
	"aof_last_bgrewrite_status:ok",
	"aof_rewrites:0",
	"aof_rewrites_consecutive_failures:0",
	"aof_last_write_status:ok",
	"aof_last_cow_size:0",
	"module_fork_in_progress:0",
	"module_fork_last_cow_size:0",
}

func (s *Server) UsedMemory() int64 { return s.evict.used() }

// infoDefault is INFO's section order with no argument (and "default").
var infoDefault = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "cluster", "keyspace"}

// Info renders the requested sections. names holds lower-case section names;
// empty means default; "all"/"everything" add commandstats (and latencystats).
func (s *Server) Info(names []string) string {
	want := map[string]bool{}
	var order []string
	add := func(n string) {
		if !want[n] {
			want[n] = true
			order = append(order, n)
		}
	}
	extra := s.infoNames()
	if len(names) == 0 {
		names = []string{"default"}
	}
	for _, n := range names {
		switch n {
		case "default":
			for _, d := range infoDefault {
				add(d)
			}
			for _, e := range extra {
				add(e)
			}
		case "all", "everything":
			for _, d := range infoDefault {
				add(d)
			}
			add("commandstats")
			add("latencystats")
			for _, e := range extra {
				add(e)
			}
		default:
			add(n)
		}
	}
	var b strings.Builder
	for _, n := range order {
		lines := s.infoSection(n)
		if lines == nil {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		title := strings.ToUpper(n[:1]) + n[1:]
		if n == "cpu" {
			title = "CPU" // as Redis spells it
		}
		b.WriteString("# " + title + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	return b.String()
}

func (s *Server) infoSection(name string) []string {
	now := time.Now()
	switch name {
	case "server":
		host, _ := os.Hostname()
		_ = host
		up := int64(now.Sub(s.startTime).Seconds())
		return []string{
			"redis_version:" + RedisVersion,
			"reddwarf_version:" + Version,
			"redis_git_sha1:00000000",
			"redis_git_dirty:0",
			"redis_build_id:0",
			"redis_mode:standalone",
			"os:" + runtime.GOOS + " " + runtime.GOARCH,
			"arch_bits:64",
			"monotonic_clock:POSIX clock_gettime",
			"multiplexing_api:epoll",
			"atomicvar_api:go-atomic",
			"go_version:" + runtime.Version(),
			fmt.Sprintf("process_id:%d", os.Getpid()),
			"process_supervised:no",
			"run_id:" + s.runID(),
			fmt.Sprintf("tcp_port:%d", s.Config.Port),
			fmt.Sprintf("server_time_usec:%d", now.UnixMicro()),
			fmt.Sprintf("uptime_in_seconds:%d", up),
			fmt.Sprintf("uptime_in_days:%d", up/86400),
			fmt.Sprintf("hz:%d", s.Config.Hz),
			fmt.Sprintf("configured_hz:%d", s.Config.Hz),
			"lru_clock:" + fmt.Sprint(now.Unix()&(1<<24-1)),
			"executable:" + executable(),
			"config_file:" + s.Config.file,
			"io_threads_active:0",
		}
	case "clients":
		trackingClients, _, _, _ := s.TrackingStats()
		blocked, pubsub, watching := 0, 0, 0
		for _, c := range s.clients {
			if c.blocked != nil {
				blocked++
			}
			if c.InPubSub() {
				pubsub++
			}
			if len(c.watched) > 0 {
				watching++
			}
		}
		return []string{
			fmt.Sprintf("connected_clients:%d", len(s.clients)),
			"cluster_connections:0",
			fmt.Sprintf("maxclients:%d", s.Config.MaxClients),
			"client_recent_max_input_buffer:0",
			"client_recent_max_output_buffer:0",
			fmt.Sprintf("blocked_clients:%d", blocked),
			fmt.Sprintf("tracking_clients:%d", trackingClients),
			fmt.Sprintf("clients_in_timeout_table:%d", blocked),
			fmt.Sprintf("pubsub_clients:%d", pubsub),
			fmt.Sprintf("watching_clients:%d", watching),
			fmt.Sprintf("total_watched_keys:%d", len(s.watchers)),
		}
	case "memory":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		used := s.UsedMemory()
		rss := int64(ms.Sys)
		peak := int64(ms.HeapSys)
		clients := s.clientsMemory()
		var sc ScriptStats
		if s.scriptStats != nil {
			sc = s.scriptStats()
		}
		// Redis's allocator figures, from Go's heap: allocated = live
		// objects, active = spans in use, resident = spans obtained.
		allocated, active, resident := int64(ms.HeapAlloc), int64(ms.HeapInuse), int64(ms.HeapSys)
		ratio := func(a, b int64) string { return fmt.Sprintf("%.2f", float64(a)/float64(max(b, 1))) }
		return []string{
			fmt.Sprintf("used_memory:%d", used),
			"used_memory_human:" + humanize.IBytes(uint64(used)),
			fmt.Sprintf("used_memory_rss:%d", rss),
			"used_memory_rss_human:" + humanize.IBytes(uint64(rss)),
			fmt.Sprintf("used_memory_peak:%d", peak),
			"used_memory_peak_human:" + humanize.IBytes(uint64(peak)),
			fmt.Sprintf("used_memory_peak_perc:%.2f%%", float64(used)*100/float64(max(peak, 1))),
			fmt.Sprintf("used_memory_overhead:%d", clients),
			fmt.Sprintf("used_memory_startup:%d", 0),
			fmt.Sprintf("used_memory_dataset:%d", max(used-clients, 0)),
			fmt.Sprintf("used_memory_dataset_perc:%.2f%%", float64(max(used-clients, 0))*100/float64(max(used, 1))),
			fmt.Sprintf("allocator_allocated:%d", allocated),
			fmt.Sprintf("allocator_active:%d", active),
			fmt.Sprintf("allocator_resident:%d", resident),
			fmt.Sprintf("total_system_memory:%d", totalSystemMemory()),
			"total_system_memory_human:" + humanize.IBytes(uint64(totalSystemMemory())),
			// Scripting: the cached EVAL bodies and the loaded
			// libraries (their interpreters' heaps are Go's, counted in
			// used_memory).
			"used_memory_lua:0",
			"used_memory_vm_eval:0",
			"used_memory_lua_human:0B",
			fmt.Sprintf("used_memory_scripts_eval:%d", sc.EvalBytes),
			fmt.Sprintf("number_of_cached_scripts:%d", sc.Scripts),
			fmt.Sprintf("number_of_functions:%d", sc.Functions),
			fmt.Sprintf("number_of_libraries:%d", sc.Libraries),
			"used_memory_vm_functions:0",
			"used_memory_vm_total:0",
			"used_memory_vm_total_human:0B",
			fmt.Sprintf("used_memory_functions:%d", sc.FunctionBytes),
			fmt.Sprintf("used_memory_scripts:%d", sc.EvalBytes+sc.FunctionBytes),
			"used_memory_scripts_human:" + humanize.IBytes(uint64(sc.EvalBytes+sc.FunctionBytes)),
			fmt.Sprintf("maxmemory:%d", s.Config.MaxMemory),
			"maxmemory_human:" + humanize.IBytes(uint64(s.Config.MaxMemory)),
			"maxmemory_policy:" + s.Config.MaxMemoryPolicy,
			"allocator_frag_ratio:" + ratio(active, allocated),
			fmt.Sprintf("allocator_frag_bytes:%d", active-allocated),
			"allocator_rss_ratio:" + ratio(resident, active),
			fmt.Sprintf("allocator_rss_bytes:%d", resident-active),
			"rss_overhead_ratio:" + ratio(rss, resident),
			fmt.Sprintf("rss_overhead_bytes:%d", rss-resident),
			"mem_fragmentation_ratio:" + ratio(rss, used),
			fmt.Sprintf("mem_fragmentation_bytes:%d", rss-used),
			// Memory maxmemory doesn't count: in Redis, replica output
			// buffers and the AOF buffer. reddwarf has neither replicas nor
			// an AOF, so all of used_memory counts for eviction.
			"mem_not_counted_for_evict:0",
			"mem_replication_backlog:0",
			"mem_total_replication_buffers:0",
			"mem_clients_slaves:0",
			fmt.Sprintf("mem_clients_normal:%d", clients),
			"mem_cluster_links:0",
			"mem_aof_buffer:0",
			"mem_allocator:go",
			"active_defrag_running:0",
			"lazyfree_pending_objects:0",
			"lazyfreed_objects:0",
			fmt.Sprintf("gc_cycles:%d", ms.NumGC),
		}
	case "persistence":
		lines := []string{
			fmt.Sprintf("loading:%d", b2i(s.loading.Load())),
			"async_loading:0",
			"current_cow_peak:0",
			"current_cow_size:0",
			"current_cow_size_age:0",
			"current_fork_perc:0.00",
			"current_save_keys_processed:0",
			"current_save_keys_total:0",
			fmt.Sprintf("rdb_changes_since_last_save:%d", s.Dirty),
			"rdb_bgsave_in_progress:0",
			fmt.Sprintf("rdb_last_save_time:%d", s.LastSave),
			"rdb_last_bgsave_status:ok",
			"rdb_last_bgsave_time_sec:-1",
			"rdb_current_bgsave_time_sec:-1",
			"rdb_saves:0",
			"rdb_last_cow_size:0",
			"rdb_last_load_keys_expired:0",
			"rdb_last_load_keys_loaded:0",
		}
		lines = append(lines, InfoNoAOFOrModules...)
		if more := s.infoHook("persistence"); more != nil {
			return more
		}
		return lines
	case "stats":
		st := s.Stats
		_, trackingKeys, trackingItems, trackingPrefixes := s.TrackingStats()
		exceededTotal, exceededCur := s.evict.exceededMS(now)
		return []string{
			fmt.Sprintf("total_connections_received:%d", st.ConnectionsReceived),
			fmt.Sprintf("total_commands_processed:%d", st.CommandsProcessed),
			"instantaneous_ops_per_sec:0",
			fmt.Sprintf("total_net_input_bytes:%d", s.netInput.Load()),
			fmt.Sprintf("total_net_output_bytes:%d", st.TotalNetOutput),
			"total_net_repl_input_bytes:0",
			"total_net_repl_output_bytes:0",
			"instantaneous_input_kbps:0.00",
			"instantaneous_output_kbps:0.00",
			"instantaneous_input_repl_kbps:0.00",
			"instantaneous_output_repl_kbps:0.00",
			fmt.Sprintf("rejected_connections:%d", st.RejectedConns),
			"sync_full:0",
			"sync_partial_ok:0",
			"sync_partial_err:0",
			fmt.Sprintf("expired_keys:%d", st.ExpiredKeys),
			"expired_stale_perc:0.00",
			"expired_time_cap_reached_count:0",
			"expire_cycle_cpu_milliseconds:0",
			fmt.Sprintf("evicted_keys:%d", s.evict.keys),
			"evicted_clients:0",
			fmt.Sprintf("total_eviction_exceeded_time:%d", exceededTotal),
			fmt.Sprintf("current_eviction_exceeded_time:%d", exceededCur),
			fmt.Sprintf("keyspace_hits:%d", st.KeyspaceHits),
			fmt.Sprintf("keyspace_misses:%d", st.KeyspaceMisses),
			fmt.Sprintf("pubsub_channels:%d", len(s.channels)),
			fmt.Sprintf("pubsub_patterns:%d", len(s.patterns)),
			"pubsubshard_channels:0",
			"latest_fork_usec:0",
			"total_forks:0",
			"migrate_cached_sockets:0",
			"slave_expires_tracked_keys:0",
			"active_defrag_hits:0",
			"active_defrag_misses:0",
			"active_defrag_key_hits:0",
			"active_defrag_key_misses:0",
			"total_active_defrag_time:0",
			"current_active_defrag_time:0",
			fmt.Sprintf("tracking_total_keys:%d", trackingKeys),
			fmt.Sprintf("tracking_total_items:%d", trackingItems),
			fmt.Sprintf("tracking_total_prefixes:%d", trackingPrefixes),
			"unexpected_error_replies:0",
			fmt.Sprintf("total_error_replies:%d", st.TotalErrorReplies),
			"dump_payload_sanitizations:0",
			"total_reads_processed:0",
			"total_writes_processed:0",
			"io_threaded_reads_processed:0",
			"io_threaded_writes_processed:0",
			"reply_buffer_shrinks:0",
			"reply_buffer_expands:0",
		}
	case "replication":
		return []string{"role:master", "connected_slaves:0", "master_failover_state:no-failover", "master_replid:" + s.runID(), "master_replid2:0000000000000000000000000000000000000000", "master_repl_offset:0", "second_repl_offset:-1", "repl_backlog_active:0", "repl_backlog_size:1048576", "repl_backlog_first_byte_offset:0", "repl_backlog_histlen:0"}
	case "cpu":
		u, sy := cpuTimes()
		return []string{fmt.Sprintf("used_cpu_sys:%.6f", sy), fmt.Sprintf("used_cpu_user:%.6f", u), "used_cpu_sys_children:0.000000", "used_cpu_user_children:0.000000"}
	case "modules":
		return []string{}
	case "cluster":
		return []string{"cluster_enabled:0"}
	case "errorstats":
		var keys []string
		for k := range s.errorStats {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := []string{}
		for _, k := range keys {
			out = append(out, fmt.Sprintf("errorstat_%s:count=%d", k, s.errorStats[k]))
		}
		return out
	case "commandstats":
		var keys []string
		for k, st := range s.cmdStats {
			if st.Calls > 0 || st.Rejected > 0 || st.Failed > 0 {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		out := []string{}
		for _, k := range keys {
			st := s.cmdStats[k]
			per := 0.0
			if st.Calls > 0 {
				per = float64(st.USec) / float64(st.Calls)
			}
			out = append(out, fmt.Sprintf("cmdstat_%s:calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d", k, st.Calls, st.USec, per, st.Rejected, st.Failed))
		}
		return out
	case "latencystats":
		return []string{}
	case "keyspace":
		out := []string{}
		for _, db := range s.DBs {
			if db.Len() == 0 {
				continue
			}
			out = append(out, fmt.Sprintf("db%d:keys=%d,expires=%d,avg_ttl=%d", db.ID, db.Len(), db.ExpiresLen(), db.avgTTL(s.Now())))
		}
		return out
	}
	return s.infoHook(name)
}

// clientsMemory is what the normal clients' buffers hold (INFO
// mem_clients_normal): each one's query buffer, pending reply and the 1 KiB
// a reply buffer starts with, as CLIENT LIST's tot-mem counts them.
func (s *Server) clientsMemory() int64 {
	var n int64
	for _, c := range s.clients {
		n += 1024 + int64(len(c.R.buf)) + c.pendingOut.Load() + c.parkedBytes
		if rd := c.reader.Load(); rd != nil {
			n += rd.qbufSize.Load()
		}
	}
	return n
}

func (db *DB) avgTTL(now int64) int64 {
	if len(db.expires) == 0 {
		return 0
	}
	var sum, n int64
	for _, when := range db.expires {
		if when > now {
			sum += when - now
			n++
		}
		if n >= 100 {
			break
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Server) runID() string {
	return fmt.Sprintf("%040x", uint64(s.startTime.UnixNano())*2654435761)[:40]
}

func executable() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	return p
}
