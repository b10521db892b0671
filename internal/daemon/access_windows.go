package daemon

// Windows pipes give the client's process id but no uid to match.
const peerCredentialsSupported = false
