// The password strength estimator (zxcvbn-ts) in a worker thread, started by
// password-estimator.ts. Plain JavaScript so that the same file runs from src/ (tests) and
// dist/ (the build copies it): a worker cannot load TypeScript.
//
// Loading the dictionaries takes a few hundred ms and ~40 MB of heap, and one estimate up to
// ~50 ms: here neither blocks the server's event loop, and the memory goes when the worker is
// stopped after being idle.
//
// Messages in:  { id: number, password: string, userInputs: string[] }
// Messages out: { id: number, score: number, warning: string | null, userInputsWarning: string }
//            or { id: number, error: string }
import { parentPort, workerData } from 'node:worker_threads';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';

const factory = new ZxcvbnFactory({
  translations: english.translations,
  graphs: common.adjacencyGraphs,
  dictionary: { ...common.dictionary, ...english.dictionary },
  l33tMaxSubstitutions: workerData.l33tMaxSubstitutions,
});
const userInputsWarning = english.translations.warnings.userInputs;

parentPort.on('message', (message) => {
  const { id, password, userInputs } = message;
  try {
    const result = factory.check(password, userInputs);
    parentPort.postMessage({
      id,
      score: result.score,
      warning: result.feedback.warning ?? null,
      userInputsWarning,
    });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.name : 'Error' });
  }
});
