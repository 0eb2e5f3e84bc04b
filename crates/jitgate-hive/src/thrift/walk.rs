//! Reading a message's wire form in place, without building a tree: for replies whose bulk
//! jitgate only measures (the rows of clear subjects' fetches, relayed as they came). Bounded by
//! nesting depth; element counts are checked against the bytes left, so nothing is sized by a
//! forged length.

use super::{ty, DecodeError, VERSION_1};

pub struct Walk<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Walk<'a> {
    /// Reads a message header; the walk is then at the start of the body struct. The message's
    /// name and kind.
    pub fn message(
        buf: &'a [u8],
        max_depth: usize,
    ) -> Result<(Walk<'a>, &'a [u8], u8), DecodeError> {
        let mut w = Walk {
            buf,
            pos: 0,
            max_depth,
        };
        let header = w.u32()?;
        if header & 0xffff_0000 != VERSION_1 {
            return Err(DecodeError::BadHeader);
        }
        let n = w.len()?;
        let name = w.take(n)?;
        w.u32()?;
        Ok((w, name, (header & 0xff) as u8))
    }

    /// The next field header of the struct being read (type, id); `None` at its end.
    pub fn field(&mut self) -> Result<Option<(u8, i16)>, DecodeError> {
        let t = self.u8()?;
        if t == ty::STOP {
            return Ok(None);
        }
        let id = i16::from_be_bytes([self.u8()?, self.u8()?]);
        Ok(Some((t, id)))
    }

    /// A list or set header: element type and count.
    pub fn list(&mut self) -> Result<(u8, usize), DecodeError> {
        let elem = self.u8()?;
        let n = self.len()?;
        if n > self.buf.len() - self.pos {
            return Err(DecodeError::Truncated);
        }
        Ok((elem, n))
    }

    /// Skips one value of type `t` at nesting `depth`.
    pub fn skip(&mut self, t: u8, depth: usize) -> Result<(), DecodeError> {
        if depth > self.max_depth {
            return Err(DecodeError::TooDeep(self.max_depth));
        }
        match t {
            ty::BOOL | ty::BYTE => self.take(1).map(drop),
            ty::I16 => self.take(2).map(drop),
            ty::I32 => self.take(4).map(drop),
            ty::I64 | ty::DOUBLE => self.take(8).map(drop),
            ty::STRING => {
                let n = self.len()?;
                self.take(n).map(drop)
            }
            ty::STRUCT => self.skip_rest(depth),
            ty::MAP => {
                let (key, value) = (self.u8()?, self.u8()?);
                let n = self.len()?;
                for _ in 0..n {
                    self.skip(key, depth + 1)?;
                    self.skip(value, depth + 1)?;
                }
                Ok(())
            }
            ty::LIST | ty::SET => {
                let (elem, n) = self.list()?;
                self.skip_items(elem, n, depth)
            }
            other => Err(DecodeError::BadType(other)),
        }
    }

    /// Skips `n` elements of type `elem` of a collection at nesting `depth`.
    pub fn skip_items(&mut self, elem: u8, n: usize, depth: usize) -> Result<(), DecodeError> {
        for _ in 0..n {
            self.skip(elem, depth + 1)?;
        }
        Ok(())
    }

    /// Skips the rest of the struct being read, its STOP included.
    pub fn skip_rest(&mut self, depth: usize) -> Result<(), DecodeError> {
        while let Some((t, _)) = self.field()? {
            self.skip(t, depth + 1)?;
        }
        Ok(())
    }

    /// Whether the whole input was read.
    pub fn end(&self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            rest => Err(DecodeError::Trailing(rest)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = self.u32()? as i32;
        usize::try_from(n).map_err(|_| DecodeError::NegativeLength)
    }
}
