// One connected socket's shared stream state (stream_transport.hpp).
#include "stream_transport.hpp"

#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <corio/connection_errors.hpp>

namespace corio::detail {

// -- byte_buffer ----------------------------------------------------------------------------

char* byte_buffer::prepare(std::size_t n) {
    if (capacity_ - end_ >= n)
        return data_.get() + end_;
    const std::size_t live = size();
    if (capacity_ - live >= n && begin_ > 0) {  // room enough once the consumed part is gone
        std::memmove(data_.get(), data_.get() + begin_, live);
    } else {
        std::size_t cap = std::max(capacity_ * 2, live + n);
        auto grown = std::make_unique_for_overwrite<char[]>(cap);
        if (live > 0)
            std::memcpy(grown.get(), data_.get() + begin_, live);
        data_ = std::move(grown);
        capacity_ = cap;
    }
    begin_ = 0;
    end_ = live;
    return data_.get() + end_;
}

void byte_buffer::consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_)
        begin_ = end_ = 0;
}

// -- stream_transport -----------------------------------------------------------------------

stream_transport::stream_transport(event_loop& loop, socket sock, std::size_t limit, bool pipe)
    : loop_(loop), fd_(sock.detach()), pipe_(pipe), limit_(limit), send_op_(*this, fd_) {
    if (limit_ == 0) {
        ::close(fd_);
        throw std::invalid_argument("the stream limit must be positive");
    }
    // Our ops let the backend keep per-descriptor state (io_op::forget_on_close); start from
    // none, in case this number was closed by someone who did not say so.
    send_op_.forget_on_close = true;
    detail::backend& backend = loop_access::backend(loop_);
    backend.forget(fd_);
    if (pipe_)
        return;
    if (backend.caps().multishot_recv)
        multishot_ = new stream_multishot_recv(*this, fd_);
    sockaddr_storage s{};
    socklen_t len = sizeof s;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&s), &len) == 0)
        peername_ = socket_address(reinterpret_cast<sockaddr*>(&s), len);
    len = sizeof s;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&s), &len) == 0)
        sockname_ = socket_address(reinterpret_cast<sockaddr*>(&s), len);
}

// Runs when no handle and no op is left (a send in flight holds self_, a recv its reader),
// except an armed multishot recv, which takes the descriptor over.
stream_transport::~stream_transport() {
    if (receiving()) {
        multishot_->orphan(loop_);
        return;
    }
    delete multishot_;
    if (fd_ >= 0) {
        // Only the running loop is surely alive; another one forgets at its next use of the
        // number (epoll_backend.hpp).
        if (running_loop() == &loop_)
            loop_access::backend(loop_).forget(fd_);
        ::close(fd_);
    }
}

void stream_transport::check_readable(const char* what) const {
    if (read_op_ != nullptr || reader_ != nullptr) {
        throw std::runtime_error(std::string(what) +
                                 "() called while another coroutine is already waiting for "
                                 "incoming data");
    }
    if (read_error_)
        std::rethrow_exception(read_error_);
}

void stream_transport::on_received(int result) {
    if (result > 0) {
        rbuf_.commit(static_cast<std::size_t>(result));
        maybe_finish_close();  // close() may have come while these bytes were on their way
        return;
    }
    // 0: the peer shut down its side. -ECANCELED here (not thrown as cancelled_error) means
    // close() cancelled the recv: asyncio's reader sees EOF when its transport closes.
    if (result == 0 || result == -ECANCELED) {
        eof_ = true;
    } else {
        read_error_ = make_os_error(-result, pipe_ ? "read" : "recv");
    }
    maybe_finish_close();
    if (read_error_)
        std::rethrow_exception(read_error_);
}

// -- The multishot form of reading ------------------------------------------------------------

void stream_transport::start_receiving() {
    if (receiving())
        return;  // armed, or cancelled and not yet ended: its end re-arms it for the reader
    loop_access::backend(loop_).start(*multishot_);
    multishot_->in_flight = true;
}

// Inside the reaping loop (multishot_op::part): store, wake the reader through the sink, and
// pause when the reader is far behind.
void stream_transport::on_part(const char* data, std::size_t n, completion_sink& done) {
    std::memcpy(rbuf_.prepare(n), data, n);
    rbuf_.commit(n);
    if (reader_ != nullptr)
        done.resume(reader_->take());
    if (rbuf_.size() > 2 * limit_ && multishot_->state == op_state::submitted)
        loop_access::backend(loop_).cancel(*multishot_);  // the reader starts it again
}

// The recv is over (from the ready queue). An end without an error (the kernel stopped it
// after a part, the buffers ran out, or a pause) is no news for the reader: the recv is armed
// again if one waits. close() cancelling it is EOF for the reader, as in the per-read form.
void stream_transport::on_receive_ended(int result) noexcept {
    if (result == 0 || (result == -ECANCELED && closing_)) {
        eof_ = true;
    } else if (result < 0 && result != -ECANCELED && result != -ENOBUFS) {
        read_error_ = make_os_error(-result, "recv");
    }
    if (reader_ != nullptr && can_receive()) {
        try {
            start_receiving();
        } catch (...) {
            read_error_ = std::current_exception();
        }
    }
    maybe_finish_close();
    if (reader_ != nullptr && !receiving())
        wake_reader();
}

void stream_transport::wake_reader() noexcept {
    loop_access::push_ready(loop_, ready_entry::of(reader_->take()));
}

void stream_multishot_recv::prep(io_uring_sqe& sqe) noexcept {
    // The buffer is picked by the kernel: the backend adds IOSQE_BUFFER_SELECT and the group.
    io_uring_prep_recv_multishot(&sqe, fd_, nullptr, 0, 0);
}

void stream_multishot_recv::part(int n, const char* data, completion_sink& done) {
    if (!orphaned())  // an orphan's parts have no reader left: dropped
        t_.on_part(data, static_cast<std::size_t>(n), done);
}

void stream_multishot_recv::ended(int result) noexcept {
    t_.on_receive_ended(result);
}

void stream_multishot_recv::orphan_ended(int) noexcept {
    ::close(fd_);  // the io_uring backend keeps nothing per descriptor to forget
}

// -- Writing ----------------------------------------------------------------------------------

void stream_transport::write(std::string_view data) {
    if (write_error_)
        std::rethrow_exception(write_error_);
    if (closing_)
        throw std::runtime_error("write() on a closed stream_writer");
    if (eof_requested_)
        throw std::runtime_error("Cannot call write() after write_eof()");
    if (data.empty())
        return;
    if (sending_now_) {
        pending_.append(data);
    } else {
        sending_.assign(data);
        sent_ = 0;
        start_send();
    }
    if (buffered() > high_)
        paused_ = true;
}

void stream_transport::start_send() noexcept {
    send_op_.reset(sending_.data() + sent_, sending_.size() - sent_);
    try {
        loop_access::backend(loop_).start(send_op_);
    } catch (...) {
        fail_writes(std::current_exception());
        return;
    }
    sending_now_ = true;
    self_ = shared_from_this();
}

// The send op is done. Runs on the loop from the ready queue; `keep` may be the last
// reference, so nothing touches *this after it goes.
void stream_transport::on_sent() noexcept {
    std::shared_ptr<stream_transport> keep = std::move(self_);
    sending_now_ = false;
    const int r = send_op_.result;
    if (r < 0) {
        fail_writes(closing_ && r == -ECANCELED ? nullptr
                                                : make_os_error(-r, pipe_ ? "write" : "send"));
    } else {
        sent_ += static_cast<std::size_t>(r);
        if (sent_ == sending_.size()) {
            sending_.swap(pending_);
            pending_.clear();
            sent_ = 0;
        }
        if (!sending_.empty()) {
            start_send();
        } else if (eof_requested_) {
            shutdown_write();
        }
        if (paused_ && buffered() <= low_) {
            paused_ = false;
            wake(drain_waiters_);
        }
    }
    maybe_finish_close();
}

// Sending failed (or abort() dropped it): the data is lost, drain() and write() throw.
void stream_transport::fail_writes(std::exception_ptr error) noexcept {
    sending_.clear();
    pending_.clear();
    sent_ = 0;
    paused_ = false;
    if (error && !write_error_)
        write_error_ = error;
    for (future<void>& f : drain_waiters_) {
        if (f.done())
            continue;
        if (write_error_) {
            f.set_exception(write_error_);
        } else {
            f.set_result();
        }
    }
    drain_waiters_.clear();
}

void stream_transport::wake(std::vector<future<void>>& waiters) noexcept {
    for (future<void>& f : waiters) {
        if (!f.done())
            f.set_result();
    }
    waiters.clear();
}

void stream_transport::shutdown_write() noexcept {
    if (eof_sent_ || fd_ < 0)
        return;
    eof_sent_ = true;
    if (pipe_) {  // a pipe has no half-close: its reader sees EOF once our end is closed
        close();
        return;
    }
    ::shutdown(fd_, SHUT_WR);  // ENOTCONN if the peer is gone already: nothing to tell
}

void stream_transport::write_eof() {
    if (closing_ || eof_requested_)
        return;
    eof_requested_ = true;
    if (!sending_now_)
        shutdown_write();
}

task<void> stream_transport::drain() {
    std::shared_ptr<stream_transport> keep = shared_from_this();
    if (write_error_)
        std::rethrow_exception(write_error_);
    if (!paused_)
        co_return;
    future<void> f = loop_.create_future<void>();
    drain_waiters_.push_back(f);
    co_await f;
}

void stream_transport::close() {
    if (closing_)
        return;
    closing_ = true;
    cancel_reading();
    maybe_finish_close();
}

// close() and abort(): a waiting reader sees EOF once the recv has ended.
void stream_transport::cancel_reading() noexcept {
    if (read_op_ != nullptr)
        loop_access::backend(loop_).cancel(*read_op_);
    if (multishot_ != nullptr && multishot_->state == op_state::submitted)
        loop_access::backend(loop_).cancel(*multishot_);
}

void stream_transport::abort() {
    const bool was_closing = closing_;
    closing_ = true;
    if (!was_closing)
        cancel_reading();
    if (sending_now_)
        loop_access::backend(loop_).cancel(send_op_);
    sending_.clear();
    pending_.clear();
    sent_ = 0;
    maybe_finish_close();
}

void stream_transport::maybe_finish_close() noexcept {
    if (!closing_ || sending_now_ || read_op_ != nullptr || receiving() || fd_ < 0)
        return;
    loop_access::backend(loop_).forget(fd_);
    ::close(fd_);
    fd_ = -1;
    wake(drain_waiters_);
    wake(close_waiters_);
}

task<void> stream_transport::wait_closed() {
    std::shared_ptr<stream_transport> keep = shared_from_this();
    if (closing_ && fd_ < 0)
        co_return;
    future<void> f = loop_.create_future<void>();
    close_waiters_.push_back(f);
    co_await f;
}

void stream_transport::set_limits(std::size_t high, std::size_t low) noexcept {
    high_ = high;
    low_ = std::min(low, high);
    if (paused_ && buffered() <= low_) {
        paused_ = false;
        wake(drain_waiters_);
    } else if (buffered() > high_) {
        paused_ = true;
    }
}

}  // namespace corio::detail
