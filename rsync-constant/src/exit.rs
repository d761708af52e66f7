//! rsync's exit codes (rsync `errcode.h`), which scripts and wrappers such as lsyncd act on.

/// An rsync exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitCode {
    /// 0: success.
    Ok,
    /// 1: syntax or usage error (also: an option we do not implement).
    Syntax,
    /// 2: protocol incompatibility.
    Protocol,
    /// 3: errors selecting input/output files or directories.
    FileSelect,
    /// 4: requested action not supported.
    Unsupported,
    /// 5: error starting the client-server protocol.
    StartClient,
    /// 10: error in socket I/O.
    SocketIo,
    /// 11: error in file I/O.
    FileIo,
    /// 12: error in the rsync protocol data stream.
    StreamIo,
    /// 13: errors with program diagnostics.
    MessageIo,
    /// 14: error in IPC code.
    Ipc,
    /// 20: received SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// 22: error allocating memory.
    Malloc,
    /// 23: partial transfer due to error.
    Partial,
    /// 24: partial transfer: some source files vanished.
    Vanished,
    /// 25: `--max-delete` stopped deletions.
    DelLimit,
    /// 30: timeout in data send/receive.
    Timeout,
    /// 35: timeout waiting for a daemon connection.
    ConTimeout,
}

impl ExitCode {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Syntax => 1,
            Self::Protocol => 2,
            Self::FileSelect => 3,
            Self::Unsupported => 4,
            Self::StartClient => 5,
            Self::SocketIo => 10,
            Self::FileIo => 11,
            Self::StreamIo => 12,
            Self::MessageIo => 13,
            Self::Ipc => 14,
            Self::Signal => 20,
            Self::Malloc => 22,
            Self::Partial => 23,
            Self::Vanished => 24,
            Self::DelLimit => 25,
            Self::Timeout => 30,
            Self::ConTimeout => 35,
        }
    }

    /// The exit code with this number, if rsync has one.
    pub fn from_code(code: i32) -> Option<Self> {
        const ALL: [ExitCode; 18] = [
            ExitCode::Ok,
            ExitCode::Syntax,
            ExitCode::Protocol,
            ExitCode::FileSelect,
            ExitCode::Unsupported,
            ExitCode::StartClient,
            ExitCode::SocketIo,
            ExitCode::FileIo,
            ExitCode::StreamIo,
            ExitCode::MessageIo,
            ExitCode::Ipc,
            ExitCode::Signal,
            ExitCode::Malloc,
            ExitCode::Partial,
            ExitCode::Vanished,
            ExitCode::DelLimit,
            ExitCode::Timeout,
            ExitCode::ConTimeout,
        ];
        ALL.into_iter().find(|c| i32::from(c.code()) == code)
    }

    /// rsync's wording, as in its "rsync error: ... (code N)" line.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Ok => "success",
            Self::Syntax => "syntax or usage error",
            Self::Protocol => "protocol incompatibility",
            Self::FileSelect => "errors selecting input/output files, dirs",
            Self::Unsupported => "requested action not supported",
            Self::StartClient => "error starting client-server protocol",
            Self::SocketIo => "error in socket IO",
            Self::FileIo => "error in file IO",
            Self::StreamIo => "error in rsync protocol data stream",
            Self::MessageIo => "errors with program diagnostics",
            Self::Ipc => "error in IPC code",
            Self::Signal => "received SIGINT, SIGTERM, or SIGHUP",
            Self::Malloc => "error allocating core memory buffers",
            Self::Partial => "some files/attrs were not transferred (see previous errors)",
            Self::Vanished => "some files vanished before they could be transferred",
            Self::DelLimit => "the --max-delete limit stopped deletions",
            Self::Timeout => "timeout in data send/receive",
            Self::ConTimeout => "timeout waiting for daemon connection",
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        Self::from(c.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rsync() {
        let all = [
            (ExitCode::Ok, 0),
            (ExitCode::Syntax, 1),
            (ExitCode::Protocol, 2),
            (ExitCode::FileSelect, 3),
            (ExitCode::Unsupported, 4),
            (ExitCode::StartClient, 5),
            (ExitCode::SocketIo, 10),
            (ExitCode::FileIo, 11),
            (ExitCode::StreamIo, 12),
            (ExitCode::MessageIo, 13),
            (ExitCode::Ipc, 14),
            (ExitCode::Signal, 20),
            (ExitCode::Malloc, 22),
            (ExitCode::Partial, 23),
            (ExitCode::Vanished, 24),
            (ExitCode::DelLimit, 25),
            (ExitCode::Timeout, 30),
            (ExitCode::ConTimeout, 35),
        ];
        for (c, n) in all {
            assert_eq!(c.code(), n, "{c:?}");
        }
        assert_eq!(ExitCode::from_code(30), Some(ExitCode::Timeout));
        assert_eq!(ExitCode::from_code(6), None);
        assert_eq!(
            ExitCode::Partial.message(),
            "some files/attrs were not transferred (see previous errors)"
        );
    }
}
