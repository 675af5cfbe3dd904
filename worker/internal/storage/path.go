package storage

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/madbase/madbase/shared/apierr"
)

// maxKeyBytes is the longest object key accepted (S3's limit).
const maxKeyBytes = 1024

// maxBucketName is the longest bucket id accepted (upstream: 100).
const maxBucketName = 100

// validBucketName reports whether s may be a bucket id: 1–100 characters of
// upstream's key set without '/'.
func validBucketName(s string) bool {
	if s == "" || len(s) > maxBucketName || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("_!.*'() &$=@;:+,?-", r):
		default:
			return false
		}
	}
	return true
}

// validKey reports whether k may be an object key. Unlike upstream, any
// printable Unicode is accepted (accents, CJK, spaces); what is refused is
// what could escape a folder or confuse a file system or a listing: empty
// keys, invalid UTF-8, control characters (NUL included), backslashes, a
// leading '/', empty, "." or ".." segments, and keys over 1024 bytes.
func validKey(k string) bool {
	if k == "" || len(k) > maxKeyBytes || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if r == '\\' || unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	for _, seg := range strings.Split(k, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// parseObjectPath splits the percent-encoded tail "<bucket>/<key>" of an
// object route into its bucket and key and validates both.
func parseObjectPath(raw string) (bucket, key string, err *apierr.Error) {
	dec, uerr := url.PathUnescape(raw)
	if uerr != nil {
		return "", "", errInvalidKey(raw)
	}
	bucket, key, _ = strings.Cut(dec, "/")
	if !validBucketName(bucket) {
		return "", "", errInvalidBucket()
	}
	if !validKey(key) {
		return "", "", errInvalidKey(printable(key))
	}
	return bucket, key, nil
}

// cleanKey validates a key that arrived in a JSON body.
func cleanKey(k string) (string, *apierr.Error) {
	if !validKey(k) {
		return "", errInvalidKey(printable(k))
	}
	return k, nil
}

// printable makes a rejected key safe to echo in a message.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}
