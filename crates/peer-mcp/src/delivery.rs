//! The stdio transport, watched: it tells the [`Mailbox`] when a response that
//! carries inbox entries is handed to stdout and when the write finished. rmcp
//! gives handlers no hook after their response is sent, and only the write
//! proves the host got the entries (a response to a cancelled call is dropped
//! by rmcp before it reaches the transport).

use crate::mailbox::Mailbox;
use rmcp::model::JsonRpcMessage;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::RoleServer;
use std::future::Future;
use std::sync::Arc;

pub(crate) struct DeliveryTransport<T> {
    inner: T,
    mailbox: Arc<Mailbox>,
}

impl<T> DeliveryTransport<T> {
    pub(crate) fn new(inner: T, mailbox: Arc<Mailbox>) -> Self {
        DeliveryTransport { inner, mailbox }
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for DeliveryTransport<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        // Marked now, synchronously, while rmcp's loop hands the response over:
        // a cancellation it processes later must not restore these entries.
        let carried = match &item {
            JsonRpcMessage::Response(r) if self.mailbox.sending(&r.id) => Some(r.id.clone()),
            _ => None,
        };
        let write = self.inner.send(item);
        let mailbox = self.mailbox.clone();
        async move {
            let result = write.await;
            if let Some(id) = carried {
                match result {
                    Ok(()) => mailbox.delivered(&id),
                    Err(_) => mailbox.undelivered(&id),
                }
            }
            result
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
