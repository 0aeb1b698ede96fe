// WebSocket /ws/chat: the operator chat. Each text frame is a question, either plain text
// or JSON {"question": "...", "id": <anything echoed back>}; each answer is one JSON frame
// (see ChatAnswer in src/ai/chat.ts). Questions on one socket are answered in order, one
// at a time; a socket may have at most a few waiting.
import type { FastifyPluginAsync } from 'fastify';
import { MAX_QUESTION_CHARS, type OperatorChat } from './chat.js';

const MAX_WAITING = 4;

export const chatRoutes =
  (chat: OperatorChat): FastifyPluginAsync =>
  async (app) => {
    app.get('/ws/chat', { websocket: true, config: { role: 'operator' }, schema: { hide: true } }, (socket, request) => {
      let chain: Promise<void> = Promise.resolve();
      let waiting = 0;
      const send = (msg: unknown) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
      };
      send({ type: 'hello', message: 'Ask about the incidents this gateway has stored, e.g. "what happened at cam-3 in the last hour?"' });
      socket.on('message', (data, isBinary) => {
        if (isBinary) {
          send({ type: 'error', error: { code: 'BAD_REQUEST', message: 'send questions as text frames' } });
          return;
        }
        const raw = data.toString();
        let question = raw;
        let id: unknown;
        if (raw.trimStart().startsWith('{')) {
          try {
            const parsed = JSON.parse(raw) as { question?: unknown; id?: unknown };
            if (typeof parsed.question !== 'string') throw new Error('question must be a string');
            question = parsed.question;
            id = parsed.id;
          } catch (err) {
            send({ type: 'error', error: { code: 'BAD_REQUEST', message: (err as Error).message } });
            return;
          }
        }
        if (question.trim() === '' || question.length > MAX_QUESTION_CHARS) {
          send({ type: 'error', id, error: { code: 'BAD_REQUEST', message: `a question is 1-${MAX_QUESTION_CHARS} characters` } });
          return;
        }
        if (waiting >= MAX_WAITING) {
          send({ type: 'error', id, error: { code: 'OVERLOADED', message: 'wait for the answers to your earlier questions' } });
          return;
        }
        waiting++;
        chain = chain
          .then(async () => send({ ...(await chat.answer(question)), ...(id === undefined ? {} : { id }) }))
          .catch((err: unknown) => {
            request.log.error({ err }, 'chat answer failed');
            send({ type: 'error', id, error: { code: 'INTERNAL', message: 'the question could not be answered' } });
          })
          .finally(() => waiting--);
      });
    });
  };
