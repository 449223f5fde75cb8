package rctest

// atLeast reports whether the simulated version is major.minor or newer.
func (s *Server) atLeast(major, minor int) bool {
	return s.major > major || (s.major == major && s.minor >= minor)
}
