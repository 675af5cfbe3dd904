package jwtauth

// CacheLen is how many tokens v remembers (for tests).
func CacheLen(v *Verifier) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.cache)
}
