package persist

import (
	"errors"
	"time"
)

// Save is a foreground save of the whole keyspace (SAVE, SHUTDOWN,
// FLUSHALL). A running BGSAVE is cancelled first, like Redis kills its
// child: this save is newer.
func (p *Engine) Save() error {
	p.killBgsave()
	items, cow, err := p.takeView()
	if err == nil {
		err = writeView(p.Path(), items, p.aux(), nil, nil)
	}
	if err != nil {
		p.s.Logf("warning", "Failed saving the DB: %v", err)
		return err
	}
	p.s.Dirty = 0
	p.s.LastSave = time.Now().Unix()
	p.saves++
	p.lastCowSize = cow
	p.lastBgOK = true // a good save clears MISCONF, as in Redis
	p.s.Logf("notice", "DB saved on disk")
	return nil
}

// BgsaveRunning reports whether a BGSAVE is in flight.
func (p *Engine) BgsaveRunning() bool { return p.bg != nil }

// ScheduleBgsave asks for a BGSAVE as soon as the running one ends
// (BGSAVE SCHEDULE).
func (p *Engine) ScheduleBgsave() { p.scheduled = true }

// killBgsave cancels a running BGSAVE and waits until its goroutine has
// left its file (it never renames once cancelled).
func (p *Engine) killBgsave() {
	if p.bg == nil {
		return
	}
	p.bg.cancel.Store(true)
	<-p.bg.done
	p.s.Logf("notice", "Background saving terminated: a foreground save replaces it")
	p.bg = nil
	p.scheduled = false
}

// Bgsave starts a background save; the caller checked none is running
// (BgsaveRunning).
func (p *Engine) Bgsave() error {
	items, cow, err := p.takeView()
	p.lastBgTry = time.Now()
	if err != nil {
		p.lastBgOK = false
		p.s.Logf("warning", "Can't save in background: %v", err)
		return err
	}
	bg := &bgsave{start: time.Now(), dirtyBefore: p.s.Dirty, done: make(chan struct{}), cow: cow, keys: int64(len(items))}
	p.bg = bg
	p.lastCowSize = cow
	path, aux := p.Path(), p.aux()
	p.s.Logf("notice", "Background saving started")
	go func() {
		err := writeView(path, items, aux, &bg.cancel, &bg.processed)
		close(bg.done)
		p.s.Post(func() { p.bgsaveDone(bg, err) })
	}()
	return nil
}

// bgsaveDone runs on the loop when a background save ends.
func (p *Engine) bgsaveDone(bg *bgsave, err error) {
	if errors.Is(err, errCancelled) || p.bg != bg {
		return
	}
	p.bg = nil
	p.lastBgTimeSec = int64(time.Since(bg.start).Seconds())
	if err != nil {
		p.lastBgOK = false
		p.s.Logf("warning", "Background saving error: %v", err)
	} else {
		p.lastBgOK = true
		p.s.Dirty -= bg.dirtyBefore
		if p.s.Dirty < 0 {
			p.s.Dirty = 0
		}
		p.s.LastSave = time.Now().Unix()
		p.saves++
		p.s.Logf("notice", "Background saving terminated with success")
	}
	if p.scheduled {
		p.scheduled = false
		p.Bgsave()
	}
}

// cron starts a BGSAVE when a save point is reached (or one was
// scheduled), as Redis's serverCron: after a failed BGSAVE, retry only
// every 5 seconds.
func (p *Engine) cron() {
	p.autoRewrite()
	if p.bg != nil {
		return
	}
	if p.scheduled {
		p.scheduled = false
		p.Bgsave()
		return
	}
	now := time.Now()
	for _, sp := range p.s.Config.SavePoints() {
		if p.s.Dirty >= sp.Changes && now.Unix()-p.s.LastSave > sp.Seconds &&
			(p.lastBgOK || now.Sub(p.lastBgTry) > 5*time.Second) {
			p.s.Logf("notice", "%d changes in %d seconds. Saving...", sp.Changes, sp.Seconds)
			p.Bgsave()
			return
		}
	}
}

// shutdown saves before exit when asked (SHUTDOWN SAVE, or save points
// set); a failed save keeps the server running.
func (p *Engine) shutdown(save bool) error {
	if !save {
		p.killBgsave()
	} else {
		p.s.Logf("warning", "Saving the final DSV4 snapshot before exiting.")
		if err := p.Save(); err != nil {
			return err
		}
	}
	// The log is flushed and fsynced whatever appendfsync says, as Redis
	// does at shutdown; a failure is logged, the exit goes on (what was
	// acknowledged under always is already on disk).
	if err := p.closeAOF(); err != nil {
		p.s.Logf("warning", "Error closing the append only file at shutdown: %v", err)
	}
	return nil
}

// errMisconf is Redis's text, so clients recognise it.
