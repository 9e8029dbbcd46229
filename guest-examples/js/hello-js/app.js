// hello-js: a Lambda-style handler in JavaScript, made a Waygate handler component
// (wit/handler.wit) by componentize-js. Greets `name` (query string, or the direct
// payload's "name"), with the greeting from the GREETING environment variable.
import { getEnvironment } from 'wasi:cli/environment@0.2.3';

// As a Lambda handler: the event as an object; what it returns becomes the JSON answer.
function hello(event, context) {
  const who = event.queryStringParameters?.name ?? event.name ?? 'world';
  const env = Object.fromEntries(getEnvironment());
  const greeting = {
    message: `Hello, ${who}!`,
    greeting_from: env.GREETING ?? 'Waygate',
    version: context.functionVersion,
    request_id: context.requestId,
    lang: 'javascript',
  };
  console.log(`hello-js greeted ${who}`);
  if (event.httpMethod) {
    // Through an API's route: a proxy response.
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(greeting) };
  }
  return greeting;
}

// The glue between the WIT world and `hello`: JSON text in, JSON text out; a thrown error
// becomes the invocation's error (a WIT `err` is a string).
export function handler(event, context) {
  try {
    return JSON.stringify(hello(JSON.parse(event), context));
  } catch (e) {
    throw `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
  }
}
