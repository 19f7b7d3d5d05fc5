/**
 * The wizard's root: holds the reducer, runs the effects it asks for, routes the global keys
 * (Esc, q, ?, Ctrl+C), and renders the finished steps (<Static>) above the current screen.
 */
import { Box, Static, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useReducer, useRef } from 'react';
import { basename } from 'node:path';
import { modelStem } from '../core/session.js';
import type { LoadedModel } from '../core/model.js';
import { defaultDeps, describeError, runEffect, type EffectDeps } from './effects.js';
import { isTyping, questionByKey, questionView, questionsOf, reducer, stepNumber, INPUT_SHAPE_KEY, type LogEntry, type WizardState } from './state.js';
import { c, trunc } from './theme.js';
import { Decision } from './screens/Decision.js';
import { Done } from './screens/Done.js';
import { ErrorScreen } from './screens/ErrorScreen.js';
import { Help, QuitConfirm } from './screens/Help.js';
import { LayerDetail } from './screens/LayerDetail.js';
import { MapTable } from './screens/MapTable.js';
import { ModelPicker } from './screens/ModelPicker.js';
import { Spinner } from './screens/Spinner.js';
import { Summary } from './screens/Summary.js';
import { Verify } from './screens/Verify.js';
import { Write } from './screens/Write.js';

export interface AppProps {
  initial: WizardState;
  deps?: EffectDeps;
  onExit?(code: number): void;
}

const STEPS = ['Load', 'Map', 'Decide', 'Verify', 'Write'];

function Header({ state, width }: { state: WizardState; width: number }) {
  const { n } = stepNumber(state.step.kind);
  const done = state.step.kind === 'done';
  const crumbs = STEPS.map((name, i) => {
    if (i + 1 < n || (done && i + 1 === n)) return c.green(`✓${name}`);
    if (i + 1 === n) return c.bold(c.cyan(`[${name}]`));
    return c.dim(name);
  }).join(c.dim(' › '));
  const model = state.modelPath ? basename(state.modelPath) : '';
  const left = `keras2caffe${model ? ` · ${model}` : ''}`;
  const crumbsLen = STEPS.join(' › ').length + 3;
  return (
    <Text>
      {c.bold(trunc(left, Math.max(10, width - crumbsLen - 3)))}
      {'  '}
      {n > 0 || done ? crumbs : state.step.kind === 'error' ? c.red('[Error]') : c.dim('pick a model')}
    </Text>
  );
}

function footerText(state: WizardState): string {
  const st = state.step;
  if (state.overlay === 'help') return 'any key closes the help';
  if (state.overlay === 'quit') return 'y quit · n stay';
  switch (st.kind) {
    case 'pick':
      return st.typing ? 'type a path · Enter open · Esc back to the list' : '↑↓/jk choose · Enter open · ? help · q quit';
    case 'loading':
      return 'Esc cancel';
    case 'summary':
      return 'Enter continue · Esc pick another model · ? help · q quit';
    case 'map':
      return st.detail ? '↑↓/jk scroll · Enter or Esc back to the table · q quit' : '↑↓/jk move · Enter details/continue · c continue · Esc back · ? help · q quit';
    case 'decide':
      return st.key === INPUT_SHAPE_KEY ? 'type H,W · Enter accept · Esc back' : '↑↓/jk choose · Enter accept · Esc previous · ? help · q quit';
    case 'verify':
      return st.phase === 'running' ? 'Esc back · q quit' : 'Enter continue · ↑↓ scroll · Esc back · ? help · q quit';
    case 'write':
      return st.phase === 'confirm' ? 'y overwrite · n choose another folder · Esc back' : 'Enter write · Ctrl+U clear · Esc back';
    case 'done':
      return 'Enter exit';
    case 'error':
      return st.back ? 'Enter/Esc back · q quit' : 'Enter/q quit';
  }
}

function LogLine({ entry, width }: { entry: LogEntry; width: number }) {
  const text = trunc(entry.text, width - 3);
  const mark = entry.mark === 'ok' ? c.green('✓') : entry.mark === 'warn' ? c.yellow('!') : entry.mark === 'back' ? c.dim('↩') : c.dim('–');
  return (
    <Text>
      {mark} {entry.mark === 'back' ? c.dim(text) : text}
    </Text>
  );
}

export function App({ initial, deps, onExit }: AppProps) {
  const [state, dispatch] = useReducer(reducer, initial);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const width = Math.max(40, Math.min(stdout?.columns || 80, 120));
  const rows = Math.max(12, stdout?.rows || 24);

  const stateRef = useRef(state);
  stateRef.current = state;
  const depsRef = useRef<Promise<EffectDeps> | null>(null);
  if (!depsRef.current) depsRef.current = deps ? Promise.resolve(deps) : defaultDeps();
  const ran = useRef(0);

  useEffect(() => {
    const e = state.effect;
    if (!e || ran.current === e.id) return;
    ran.current = e.id;
    const snapshot = state;
    const isCurrent = (id: number) => stateRef.current.effect?.id === id;
    depsRef.current!.then((d) => runEffect(e, snapshot, dispatch, d, isCurrent)).catch((err) => dispatch({ type: 'failed', id: e.id, ...describeError(err) }));
  }, [state.effect]);

  // Close a model file once the wizard lets go of it (another model, back to the picker, exit).
  const modelRef = useRef<LoadedModel | null>(null);
  useEffect(() => {
    const prev = modelRef.current;
    if (prev && prev !== state.model) prev.file.close();
    modelRef.current = state.model;
  }, [state.model]);
  useEffect(
    () => () => {
      modelRef.current?.file.close();
      modelRef.current = null;
    },
    [],
  );

  useEffect(() => {
    if (state.exitCode !== null) {
      onExit?.(state.exitCode);
      exit();
    }
  }, [state.exitCode]);

  useInput((input, key) => {
    // The latest state, not this render's: a key can arrive before Ink re-subscribes the handler.
    const state = stateRef.current;
    if (key.ctrl && input === 'c') return dispatch({ type: 'exit', code: 130 });
    if (state.overlay === 'help') return dispatch({ type: 'help', open: false });
    if (state.overlay === 'quit') {
      if (input === 'y' || input === 'Y') dispatch({ type: 'quit-confirm', yes: true });
      else if (input === 'n' || input === 'N' || key.escape || key.return) dispatch({ type: 'quit-confirm', yes: false });
      return;
    }
    if (key.escape) return dispatch({ type: 'back' });
    if (isTyping(state)) return;
    if (input === '?') dispatch({ type: 'help', open: true });
    else if (input === 'q') dispatch({ type: 'quit' });
  });

  const active = state.overlay === null && state.exitCode === null;
  const st = state.step;
  let body: React.ReactNode = null;
  if (state.overlay === 'help') body = <Help />;
  else if (state.overlay === 'quit') body = <QuitConfirm />;
  else
    switch (st.kind) {
      case 'pick':
        body = (
          <ModelPicker
            cwd={state.cwd}
            entries={state.entries}
            typing={st.typing}
            typed={st.typed}
            width={width}
            height={rows - 4}
            isActive={active}
            onPick={(path) => dispatch({ type: 'pick', path })}
            onTyping={(typing) => dispatch({ type: 'picker-typing', typing })}
            onText={(text) => dispatch({ type: 'picker-text', text })}
          />
        );
        break;
      case 'loading':
        body = <Spinner label={trunc(`loading ${st.path}`, width - 3)} />;
        break;
      case 'summary':
        body = <Summary summary={state.summary!} plan={state.plan!} width={width} isActive={active} onNext={() => dispatch({ type: 'next' })} />;
        break;
      case 'map': {
        const height = rows - 9;
        body = st.detail ? (
          <LayerDetail key={st.cursor} layer={state.plan!.layers[st.cursor]} width={width} height={rows - 6} isActive={active} onClose={() => dispatch({ type: 'back' })} />
        ) : (
          <MapTable
            plan={state.plan!}
            cursor={st.cursor}
            offset={st.offset}
            height={height}
            width={width}
            isActive={active}
            questions={questionsOf(state).filter((q) => !state.answered.includes(q.key)).length}
            onMove={(delta) => dispatch({ type: 'map-move', delta, height })}
            onOpen={() => dispatch({ type: 'map-open' })}
            onContinue={() => dispatch({ type: 'next' })}
          />
        );
        break;
      }
      case 'decide': {
        const qs = questionsOf(state);
        const q = questionByKey(state, st.key);
        if (q)
          body = (
            <Decision
              key={`${st.key}#${state.history.length}`}
              view={questionView(state, q)}
              kind={q.kind}
              index={qs.findIndex((x) => x.key === q.key) + 1}
              total={qs.length}
              planning={st.planning}
              text={st.text}
              {...(st.error ? { error: st.error } : {})}
              width={width}
              isActive={active}
              onAnswer={(value) => dispatch({ type: 'answer', key: st.key, value })}
              onText={(text) => dispatch({ type: 'shape-text', text })}
            />
          );
        break;
      }
      case 'verify':
        body = <Verify key={st.phase} step={st} width={width} height={rows - 4} isActive={active} onNext={() => dispatch({ type: 'next' })} />;
        break;
      case 'write':
        body = (
          <Write
            step={st}
            stem={modelStem(state.modelPath ?? 'model')}
            width={width}
            isActive={active}
            onText={(text) => dispatch({ type: 'folder-text', text })}
            onSubmit={() => dispatch({ type: 'folder-submit' })}
            onOverwrite={(yes) => dispatch({ type: 'overwrite', yes })}
          />
        );
        break;
      case 'done':
        body = <Done files={st.files} modelPath={state.modelPath ?? ''} cwd={state.cwd} width={width} isActive={active} onExit={() => dispatch({ type: 'next' })} />;
        break;
      case 'error':
        body = <ErrorScreen message={st.message} canGoBack={st.back !== null} width={width} isActive={active} onNext={() => dispatch({ type: 'next' })} />;
        break;
    }

  return (
    <>
      <Static items={state.history}>{(entry) => <LogLine key={entry.id} entry={entry} width={width} />}</Static>
      <Box flexDirection="column" width={width}>
        <Header state={state} width={width} />
        <Box flexDirection="column" marginTop={1}>
          {body}
        </Box>
        <Text>{c.dim(trunc(footerText(state), width - 1))}</Text>
      </Box>
    </>
  );
}
