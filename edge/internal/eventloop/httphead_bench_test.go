package eventloop

import "testing"

// The loops parse every head they serve: these track what that costs.

func BenchmarkParseRequestHead(b *testing.B) {
	head := []byte(supabaseGet)
	var h requestHead
	b.ReportAllocs()
	for b.Loop() {
		if parseRequestHead(head, &h) != headOK {
			b.Fatal("not ok")
		}
	}
}

func BenchmarkParseResponseHead(b *testing.B) {
	head := []byte(worker200("Content-Type: application/json; charset=utf-8", "Content-Length: 120", "Date: Mon, 07 Dec 2026 04:00:00 GMT", "Vary: Accept-Encoding", "X-Request-Id: abc"))
	var h responseHead
	b.ReportAllocs()
	for b.Loop() {
		if parseResponseHead(head, &h) != headOK {
			b.Fatal("not ok")
		}
	}
}
