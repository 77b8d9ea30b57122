//! A DNS server on loopback UDP answering TXT questions from an in-memory table, for email
//! domain checks: multi-string TXT records (character-strings of at most 255 bytes, joined
//! by the asker), several records at one name, NXDOMAIN for unknown names and SERVFAIL for
//! names set to fail. Messages are read and written with hickory-proto.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers for one name.
#[derive(Clone, Debug)]
pub enum Answer {
    /// TXT records, each a list of character-strings.
    Txt(Vec<Vec<String>>),
    ServFail,
}

#[derive(Default)]
struct Table {
    answers: HashMap<String, Answer>,
    questions: usize,
}

/// The running server; it stops when dropped.
pub struct MockDns {
    address: SocketAddr,
    table: Arc<Mutex<Table>>,
    stop: Arc<AtomicBool>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl MockDns {
    pub fn start() -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let address = socket.local_addr()?;
        let table = Arc::new(Mutex::new(Table::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (served, stopping) = (Arc::clone(&table), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("mock-dns".into())
            .spawn(move || serve(&socket, &served, &stopping))?;
        Ok(Self {
            address,
            table,
            stop,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Publishes TXT records at `name`, each given as one value and split into
    /// character-strings of 255 bytes as DNS requires.
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        let records = values
            .iter()
            .map(|value| {
                value
                    .as_bytes()
                    .chunks(255)
                    .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                    .collect()
            })
            .collect();
        self.set(name, Answer::Txt(records));
    }

    pub fn set(&self, name: &str, answer: Answer) {
        lock(&self.table).answers.insert(key(name), answer);
    }

    /// Removes a name: it is NXDOMAIN again.
    pub fn remove(&self, name: &str) {
        lock(&self.table).answers.remove(&key(name));
    }

    /// How many questions were answered.
    pub fn questions(&self) -> usize {
        lock(&self.table).questions
    }
}

impl Drop for MockDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn serve(socket: &UdpSocket, table: &Mutex<Table>, stop: &AtomicBool) {
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let Ok(request) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        if let Some(bytes) = answer(&request, table) {
            let _ = socket.send_to(&bytes, peer);
        }
    }
}

fn answer(request: &Message, table: &Mutex<Table>) -> Option<Vec<u8>> {
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.authoritative = true;
    let query = request.queries.first()?.clone();
    response.add_query(query.clone());
    let name = query.name().to_ascii();
    let found = {
        let mut table = lock(table);
        table.questions += 1;
        table.answers.get(&key(&name)).cloned()
    };
    match found {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(Answer::ServFail) => response.metadata.response_code = ResponseCode::ServFail,
        Some(Answer::Txt(records)) => {
            if query.query_type() == RecordType::TXT {
                let owner = Name::from_ascii(&name).ok()?;
                for strings in records {
                    response.add_answer(Record::from_rdata(
                        owner.clone(),
                        60,
                        RData::TXT(TXT::new(strings)),
                    ));
                }
            }
        }
    }
    response.to_vec().ok()
}
