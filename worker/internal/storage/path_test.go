package storage

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseObjectPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw, bucket, key, code string
	}{
		{raw: "b/a.txt", bucket: "b", key: "a.txt"},
		{raw: "b/dir/sub/a.txt", bucket: "b", key: "dir/sub/a.txt"},
		{raw: "b/" + url.PathEscape("été 日本語.png"), bucket: "b", key: "été 日本語.png"},
		{raw: "b/with%20space/x", bucket: "b", key: "with space/x"},
		{raw: "b/it's (1) & co=@;:+,!*$.txt", bucket: "b", key: "it's (1) & co=@;:+,!*$.txt"},
		{raw: "b/../x", code: codeInvalidKey},
		{raw: "b/a/%2e%2e/x", code: codeInvalidKey},
		{raw: "b/a/./x", code: codeInvalidKey},
		{raw: "b//etc/passwd", code: codeInvalidKey},
		{raw: "b/a%00b", code: codeInvalidKey},
		{raw: `b/a\b`, code: codeInvalidKey},
		{raw: "b/a%5Cb", code: codeInvalidKey},
		{raw: "b/a%0Ab", code: codeInvalidKey},
		{raw: "b/a%ffb", code: codeInvalidKey},
		{raw: "b/a%zz", code: codeInvalidKey},
		{raw: "b/dir/", code: codeInvalidKey},
		{raw: "b/" + strings.Repeat("x", maxKeyBytes+1), code: codeInvalidKey},
		{raw: "b/" + strings.Repeat("x", maxKeyBytes), bucket: "b", key: strings.Repeat("x", maxKeyBytes)},
		{raw: "b", code: codeInvalidKey},
		{raw: "/a.txt", code: codeInvalidBucket},
		{raw: "b%2Fc/a", bucket: "b", key: "c/a"},
		{raw: "bü/a", code: codeInvalidBucket},
		{raw: "../a", code: codeInvalidBucket},
		{raw: strings.Repeat("b", 101) + "/a", code: codeInvalidBucket},
	} {
		b, k, err := parseObjectPath(tc.raw)
		if tc.code != "" {
			if assert.NotNil(t, err, tc.raw) {
				assert.Equal(t, tc.code, err.Code, tc.raw)
			}
			continue
		}
		if assert.Nil(t, err, tc.raw) {
			assert.Equal(t, tc.bucket, b, tc.raw)
			assert.Equal(t, tc.key, k, tc.raw)
		}
	}
}

// FuzzParseObjectPath: nothing panics, and what is accepted can never
// escape a folder or hold bytes a file system or listing would misread.
func FuzzParseObjectPath(f *testing.F) {
	for _, s := range []string{"b/a.txt", "b/../x", "b/%2e%2e/x", "b/été/日本", "b/a%00", `b/a\b`, "b//x", "/x", "b/a/", "b/%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b, k, err := parseObjectPath(raw)
		if err != nil {
			if err.Status != 400 || err.Message == "" {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if !validBucketName(b) || k == "" || len(k) > maxKeyBytes || strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/") ||
			strings.ContainsAny(k, "\x00\\") {
			t.Fatalf("accepted %q -> %q %q", raw, b, k)
		}
		for _, seg := range strings.Split(k, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted segment %q in %q", seg, k)
			}
		}
	})
}
