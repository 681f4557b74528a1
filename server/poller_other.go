//go:build !linux

package server

import "sync/atomic"

// Without epoll every connection is served by its reader goroutine.
type poller struct{ sleeping atomic.Bool }

func newPoller() *poller                                          { return nil }
func takeSocket(c *Client) bool                                   { return false }
func (p *poller) add(c *Client) bool                              { return false }
func (p *poller) close(c *Client)                                 {}
func (p *poller) setReading(c *Client, on bool)                   {}
func (p *poller) setWriting(c *Client, on bool)                   {}
func (p *poller) wait(timeoutMS int, read, write func(c *Client)) {}
func (p *poller) wake()                                           {}
func (p *poller) allowHoldingP(on bool)                           {}
