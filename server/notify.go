package server

import (
	"fmt"
	"strconv"
	"strings"
)

// Keyspace notifications (notify-keyspace-events), as Redis 7.0: every
// write publishes "__keyspace@<db>__:<key>" → event and
// "__keyevent@<db>__:<event>" → key, filtered by the configured classes.

// Event classes, one flag letter each.
const (
	notifyKeyspace = 1 << iota // K
	notifyKeyevent             // E
	notifyGeneric              // g: del, expire, rename, ...
	notifyString               // $
	notifyList                 // l
	notifySet                  // s
	notifyHash                 // h
	notifyZset                 // z
	notifyExpired              // x
	notifyEvicted              // e
	notifyStream               // t
	notifyKeyMiss              // m
	notifyModule               // d
	notifyNew                  // n
	notifySession              // S: reddwarf's session events (gen, prefill, fork, rollback...)
	notifyAll      = notifyGeneric | notifyString | notifyList | notifySet | notifyHash | notifyZset | notifyExpired | notifyEvicted | notifyStream | notifyModule | notifySession
)

var notifyLetters = []struct {
	flag   int
	letter byte
}{
	{notifyGeneric, 'g'}, {notifyString, '$'}, {notifyList, 'l'}, {notifySet, 's'},
	{notifyHash, 'h'}, {notifyZset, 'z'}, {notifyExpired, 'x'}, {notifyEvicted, 'e'},
	{notifyStream, 't'}, {notifyModule, 'd'}, {notifySession, 'S'},
}

// parseNotifyFlags parses a notify-keyspace-events value.
func parseNotifyFlags(v string) (int, error) {
	flags := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case 'A':
			flags |= notifyAll
		case 'K':
			flags |= notifyKeyspace
		case 'E':
			flags |= notifyKeyevent
		case 'm':
			flags |= notifyKeyMiss
		case 'n':
			flags |= notifyNew
		default:
			found := false
			for _, l := range notifyLetters {
				if l.letter == c {
					flags |= l.flag
					found = true
				}
			}
			if !found {
				return 0, fmt.Errorf("Invalid event class character. Use 'Ag$lshzxeKEtmdnS'.")
			}
		}
	}
	return flags, nil
}

// formatNotifyFlags is the canonical text CONFIG GET prints (A first).
func formatNotifyFlags(flags int) string {
	var b strings.Builder
	if flags&notifyAll == notifyAll {
		b.WriteByte('A')
	} else {
		for _, l := range notifyLetters {
			if flags&l.flag != 0 {
				b.WriteByte(l.letter)
			}
		}
	}
	if flags&notifyKeyspace != 0 {
		b.WriteByte('K')
	}
	if flags&notifyKeyevent != 0 {
		b.WriteByte('E')
	}
	if flags&notifyKeyMiss != 0 {
		b.WriteByte('m')
	}
	if flags&notifyNew != 0 {
		b.WriteByte('n')
	}
	return b.String()
}

func applyNotify(c *Config, v string) error {
	flags, err := parseNotifyFlags(v)
	if err != nil {
		return err
	}
	c.NotifyFlags = flags
	c.values["notify-keyspace-events"] = formatNotifyFlags(flags)
	return nil
}

// eventClass maps an event name to its class.
func eventClass(event string) int {
	switch event {
	case "set", "setrange", "incrby", "incrbyfloat", "append", "setbit":
		return notifyString
	case "expired":
		return notifyExpired
	case "evicted":
		return notifyEvicted
	case "new":
		return notifyNew
	case "keymiss":
		return notifyKeyMiss
	case "gen", "prefill", "fork", "rollback", "checkpoint", "load":
		return notifySession
	case "hset", "hdel", "hincrby", "hincrbyfloat":
		return notifyHash
	case "lpush", "rpush", "lpop", "rpop", "linsert", "lset", "lrem", "ltrim":
		return notifyList
	case "sadd", "srem", "spop", "sinterstore", "sunionstore", "sdiffstore":
		return notifySet
	case "zadd", "zincr", "zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex",
		"zinterstore", "zunionstore", "zdiffstore", "zrangestore", "zpopmin", "zpopmax":
		return notifyZset
	case "xadd", "xtrim", "xdel", "xsetid", "xgroup-create", "xgroup-createconsumer",
		"xgroup-delconsumer", "xgroup-destroy", "xgroup-setid", "xclaim", "xautoclaim":
		return notifyStream
	}
	return notifyGeneric
}

// Notify publishes a keyspace event for key in db when its class is enabled.
func (s *Server) Notify(db *DB, event, key string) {
	flags := s.Config.NotifyFlags
	if flags == 0 || flags&eventClass(event) == 0 {
		return
	}
	id := strconv.Itoa(db.ID)
	if flags&notifyKeyspace != 0 {
		s.Publish("__keyspace@"+id+"__:"+key, []byte(event))
	}
	if flags&notifyKeyevent != 0 {
		s.Publish("__keyevent@"+id+"__:"+event, []byte(key))
	}
}

// Notify publishes a keyspace event for key in the client's database.
func (x *Ctx) Notify(event, key string) { x.S.Notify(x.DB, event, key) }
