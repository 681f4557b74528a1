package redistests

import (
	"fmt"
	"testing"
	"time"
)

func TestSubscribeReceivesPublishedMessagesOverRawResp2(t *testing.T) {
	client(t)
	r := dialRaw(t, shared.Addr())
	r.send("SUBSCRIBE ch1 ch2\r\n")
	for _, w := range []string{"*3", "$9", "subscribe", "$3", "ch1", ":1", "*3", "$9", "subscribe", "$3", "ch2", ":2"} {
		r.expect(w)
	}
	p := dialRaw(t, shared.Addr())
	p.send("PUBLISH ch1 hello\r\n")
	p.expect(":1")
	for _, w := range []string{"*3", "$7", "message", "$3", "ch1", "$5", "hello"} {
		r.expect(w)
	}
	r.send("GET x\r\n")
	r.expect("-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
	r.send("PING\r\n")
	for _, w := range []string{"*2", "$4", "pong", "$0", ""} {
		r.expect(w)
	}
	r.send("UNSUBSCRIBE\r\n")
	a, b := r.value().([]any), r.value().([]any)
	if len(a) != 3 || len(b) != 3 || a[0] != "unsubscribe" || a[2] != int64(1) || b[2] != int64(0) ||
		!((a[1] == "ch1" && b[1] == "ch2") || (a[1] == "ch2" && b[1] == "ch1")) {
		t.Errorf("UNSUBSCRIBE replied %v then %v", a, b)
	}
	r.send("PING\r\n")
	r.expect("+PONG")
	r.send("UNSUBSCRIBE\r\n")
	for _, w := range []string{"*3", "$11", "unsubscribe", "$-1", ":0"} {
		r.expect(w)
	}
}

func TestPsubscribeMatchesPatterns(t *testing.T) {
	client(t)
	r := dialRaw(t, shared.Addr())
	r.send("PSUBSCRIBE news.*\r\n")
	for _, w := range []string{"*3", "$10", "psubscribe", "$6", "news.*", ":1"} {
		r.expect(w)
	}
	p := dialRaw(t, shared.Addr())
	p.send("PUBLISH news.tech hi\r\nPUBLISH other x\r\n")
	p.expect(":1")
	p.expect(":0")
	for _, w := range []string{"*4", "$8", "pmessage", "$6", "news.*", "$9", "news.tech", "$2", "hi"} {
		r.expect(w)
	}
	r.send("PUNSUBSCRIBE news.*\r\n")
	for _, w := range []string{"*3", "$12", "punsubscribe", "$6", "news.*", ":0"} {
		r.expect(w)
	}
}

func TestPubsubIntrospection(t *testing.T) {
	c := client(t)
	s1 := c.Subscribe(ctx, "a", "b")
	defer s1.Close()
	s2 := c.PSubscribe(ctx, "p*", "q*")
	defer s2.Close()
	if _, err := s1.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait until both subscriptions are in place.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && (do(t, c, "PUBSUB", "NUMPAT").(int64) != 2 || len(do(t, c, "PUBSUB", "CHANNELS").([]any)) != 2) {
		time.Sleep(10 * time.Millisecond)
	}
	chans := sortedStrings(do(t, c, "PUBSUB", "CHANNELS"))
	if len(chans) != 2 || chans[0] != "a" || chans[1] != "b" {
		t.Errorf("PUBSUB CHANNELS = %v", chans)
	}
	want(t, c, []any{"a"}, "PUBSUB", "CHANNELS", "a*")
	want(t, c, []any{"a", int64(1), "z", int64(0)}, "PUBSUB", "NUMSUB", "a", "z")
	want(t, c, []any{}, "PUBSUB", "NUMSUB")
	want(t, c, int64(2), "PUBSUB", "NUMPAT")
	want(t, c, int64(1), "PUBLISH", "pa", "x")
	want(t, c, int64(1), "PUBLISH", "a", "x")
	wantErr(t, c, "ERR unknown subcommand 'bogus'. Try PUBSUB HELP.", "PUBSUB", "bogus")
}

func TestGoRedisPubSubOverResp3Push(t *testing.T) {
	c := client3(t)
	sub := c.Subscribe(ctx, "events")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	ch := sub.Channel()
	var got []string
	for i := 0; i < 3; i++ {
		if err := c.Publish(ctx, "events", itoa(int64(i))).Err(); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(3 * time.Second)
	for len(got) < 3 {
		select {
		case m := <-ch:
			if m.Channel != "events" {
				t.Errorf("message on %q", m.Channel)
			}
			got = append(got, m.Payload)
		case <-timeout:
			t.Fatalf("got %v before timeout", got)
		}
	}
	if got[0] != "0" || got[1] != "1" || got[2] != "2" {
		t.Errorf("messages %v, want 0 1 2 in order", got)
	}
}

func TestResp3ClientCanRunCommandsWhileSubscribed(t *testing.T) {
	c := client(t)
	r := dialRaw(t, shared.Addr())
	r.send("HELLO 3\r\n")
	if m, ok := r.value().([]any); !ok || len(m) != 14 {
		t.Fatalf("HELLO 3 = %v, want a map of 7", m)
	}
	r.send("SUBSCRIBE ch\r\n")
	for _, w := range []string{">3", "$9", "subscribe", "$2", "ch", ":1"} {
		r.expect(w)
	}
	r.send("SET k v\r\nGET k\r\n")
	r.expect("+OK")
	r.expect("$1")
	r.expect("v")
	do(t, c, "PUBLISH", "ch", "m")
	for _, w := range []string{">3", "$7", "message", "$2", "ch", "$1", "m"} {
		r.expect(w)
	}
	r.send("PING\r\n")
	r.expect("+PONG")
}

func TestPunsubscribeWithoutArgumentsLeavesEveryPattern(t *testing.T) {
	c := client(t)
	r := dialRaw(t, shared.Addr())
	r.send("PSUBSCRIBE a.* b.*\r\n")
	r.value()
	r.value()
	r.send("PUNSUBSCRIBE\r\n")
	a, b := r.value().([]any), r.value().([]any)
	if a[0] != "punsubscribe" || b[0] != "punsubscribe" || b[2] != int64(0) {
		t.Errorf("PUNSUBSCRIBE replied %v then %v", a, b)
	}
	want(t, c, int64(0), "PUBLISH", "a.x", "m")
	want(t, c, int64(0), "PUBSUB", "NUMPAT")
}

func TestMessagesArriveWhileClientReplyIsOff(t *testing.T) {
	c := client(t)
	r := dialRaw(t, shared.Addr())
	r.send("CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\n")
	// Neither replies; wait until the subscription is in place.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && fmt.Sprint(do(t, c, "PUBSUB", "NUMSUB", "ch")) != "[ch 1]" {
		time.Sleep(10 * time.Millisecond)
	}
	want(t, c, int64(1), "PUBLISH", "ch", "still here")
	// Subscription confirmations and messages are pushes: REPLY OFF keeps them.
	if v := fmt.Sprint(r.value()); v != "[subscribe ch 1]" {
		t.Errorf("with CLIENT REPLY OFF, got %v, want the subscribe confirmation", v)
	}
	if v := fmt.Sprint(r.value()); v != "[message ch still here]" {
		t.Errorf("with CLIENT REPLY OFF, got %v", v)
	}
}

func TestKeyspaceNotificationsFollowNotifyKeyspaceEvents(t *testing.T) {
	c := client(t)
	want(t, c, []any{"notify-keyspace-events", ""}, "CONFIG", "GET", "notify-keyspace-events")
	want(t, c, "OK", "CONFIG", "SET", "notify-keyspace-events", "KEA")
	defer do(t, c, "CONFIG", "SET", "notify-keyspace-events", "")
	v := fmt.Sprint(do(t, c, "CONFIG", "GET", "notify-keyspace-events"))
	if v != "[notify-keyspace-events AKE]" {
		t.Errorf("CONFIG GET notify-keyspace-events = %s, want the canonical AKE", v)
	}
	r := dialRaw(t, shared.Addr())
	r.send("PSUBSCRIBE __key*@0__:*\r\n")
	r.value()
	do(t, c, "SET", "k", "1")
	do(t, c, "INCRBY", "k", 2)
	do(t, c, "EXPIRE", "k", 100)
	do(t, c, "DEL", "k")
	var got []string
	for i := 0; i < 8; i++ {
		m := r.value().([]any)
		got = append(got, fmt.Sprint(m[2], " ", m[3]))
	}
	w := []string{
		"__keyspace@0__:k set", "__keyevent@0__:set k",
		"__keyspace@0__:k incrby", "__keyevent@0__:incrby k",
		"__keyspace@0__:k expire", "__keyevent@0__:expire k",
		"__keyspace@0__:k del", "__keyevent@0__:del k",
	}
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("notifications:\n got  %v\n want %v", got, w)
	}
	do(t, c, "SET", "e", "1", "PX", 20)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		m := r.value().([]any)
		if fmt.Sprint(m[2], " ", m[3]) == "__keyevent@0__:expired e" {
			return
		}
	}
	t.Errorf("no expired event for e")
}

func TestPubsubSubcommandArityErrorsNameTheSubcommand(t *testing.T) {
	c := client(t)
	wantErr(t, c, "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.", "PUBSUB", "CHANNELS", "a", "b")
	wantErr(t, c, "ERR wrong number of arguments for 'pubsub|numpat' command", "PUBSUB", "NUMPAT", "x")
}
