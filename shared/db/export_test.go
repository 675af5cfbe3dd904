package db

// SetReadStmtsMax sets how many statements a Reader keeps prepared on a
// connection, for a test; the returned func restores it.
func SetReadStmtsMax(n int) (restore func()) {
	old := readStmtsMax
	readStmtsMax = n
	return func() { readStmtsMax = old }
}

// BatchBuffer says whether Read lends pgconn.Batch its encoding buffer.
func BatchBuffer() bool { return batchBuf }
