package server

import (
	"errors"
	"strings"
)

// Error is a RESP error reply. Its text starts with the Redis error code
// (ERR, WRONGTYPE, BUSY, NOAUTH, OOM, LOADING, MISCONF, ...) because clients
// parse it; Code returns that prefix for INFO errorstats.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// Code is the first word of the error, the prefix Redis counts errors by.
func (e *Error) Code() string {
	if i := strings.IndexByte(e.msg, ' '); i > 0 {
		return e.msg[:i]
	}
	return e.msg
}

// Errorf makes an error reply with the ERR prefix.
func Errorf(msg string) *Error { return &Error{"ERR " + msg} }

// CodeError makes an error reply with another code (NOAUTH, BUSYKEY...).
func CodeError(code, msg string) *Error { return &Error{code + " " + msg} }

// ErrorCode returns the Redis error code of err (ERR for non-RESP errors).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return "ERR"
}

// Shared error replies, with Redis 7.0's exact text.
var (
	ErrSyntax          = &Error{"ERR syntax error"}
	ErrWrongType       = &Error{"WRONGTYPE Operation against a key holding the wrong kind of value"}
	ErrNotInteger      = &Error{"ERR value is not an integer or out of range"}
	ErrNotFloat        = &Error{"ERR value is not a valid float"}
	ErrNoSuchKey       = &Error{"ERR no such key"}
	ErrOverflow        = &Error{"ERR increment or decrement would overflow"}
	ErrInvalidExpire   = &Error{"ERR invalid expire time in 'set' command"}
	ErrDBIndex         = &Error{"ERR DB index is out of range"}
	ErrNoAuth          = &Error{"NOAUTH Authentication required."}
	ErrWrongPass       = &Error{"WRONGPASS invalid username-password pair or user is disabled."}
	ErrNotPositive     = &Error{"ERR value is out of range, must be positive"}
	ErrStringTooLong   = &Error{"ERR string exceeds maximum allowed size (proto-max-bulk-len)"}
	ErrLoading         = &Error{"LOADING Redis is loading the dataset in memory"}
	ErrExecAbort       = &Error{"EXECABORT Transaction discarded because of previous errors."}
	ErrSameObject      = &Error{"ERR source and destination objects are the same"}
	ErrMultiNested     = &Error{"ERR MULTI calls can not be nested"}
	ErrExecWithoutMult = &Error{"ERR EXEC without MULTI"}
	ErrDiscardNoMulti  = &Error{"ERR DISCARD without MULTI"}
	ErrWatchInMulti    = &Error{"ERR WATCH inside MULTI is not allowed"}
)

// ErrWrongArgs is the arity error for cmd (lower-case name, as Redis prints).
func ErrWrongArgs(cmd string) *Error {
	return &Error{"ERR wrong number of arguments for '" + strings.ToLower(cmd) + "' command"}
}

// errDuplicate refuses a loaded collection that names a field or member
// twice (a corrupt payload; RESTORE answers "Bad data format").
var errDuplicate = errors.New("duplicate field or member")
