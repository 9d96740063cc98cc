import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentCredentials, onCredentialsChange, signOut } from './auth/credentials.js';
import { EditSchedulePage, NewSchedulePage } from './pages/schedule-form.js';
import { RunPage } from './pages/run-page.js';
import { SchedulePage } from './pages/schedule-page.js';
import { SchedulesPage } from './pages/schedules-page.js';
import { SignInPage } from './pages/sign-in.js';
import { links, navigate, type Route, useRoute } from './router.js';
import './styles.css';

/** The page for a route, once signed in. */
function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'schedules':
      return <SchedulesPage key={String(route.query)} query={route.query} />;
    case 'new-schedule':
      return <NewSchedulePage />;
    case 'schedule':
      return <SchedulePage key={route.scheduleId} scheduleId={route.scheduleId} />;
    case 'edit-schedule':
      return <EditSchedulePage key={route.scheduleId} scheduleId={route.scheduleId} />;
    case 'run':
      return <RunPage key={route.runId} scheduleId={route.scheduleId} runId={route.runId} />;
    default:
      return (
        <main>
          <h1>Not found</h1>
          <p>
            There is no page here. <a href={links.schedules()}>Back to the schedules.</a>
          </p>
        </main>
      );
  }
}

function App() {
  const route = useRoute();
  const [credentials, setCredentials] = useState(currentCredentials);
  const [reason, setReason] = useState<string | null>(null);
  useEffect(
    () =>
      onCredentialsChange((why) => {
        setCredentials(currentCredentials());
        setReason(why);
        if (why !== null || !currentCredentials()) navigate(links.signIn());
      }),
    [],
  );
  // Every page but sign-in needs credentials; the page asked for is kept for after.
  const signingIn = !credentials || route.page === 'sign-in';
  useEffect(() => {
    document.title = signingIn ? 'Sign in · Schedule console' : 'Schedule console';
  }, [signingIn, route]);
  return (
    <>
      {/* The hash is the router's: the skip link moves focus itself. */}
      <a
        class="skip-link"
        href="#content"
        onClick={(event) => {
          event.preventDefault();
          document.getElementById('content')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={links.schedules()}>
          Schedule console
        </a>
        {credentials && (
          <nav aria-label="Main">
            <a href={links.schedules()}>Schedules</a>
            <a href={links.newSchedule()}>New schedule</a>
            <a href="/docs">API docs</a>
            <span class="who">{credentials.mode === 'header' ? `Signed in as ${credentials.userId}` : 'Signed in with a token'}</span>
            <button type="button" onClick={() => signOut()}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      <div id="content" tabIndex={-1}>
        {signingIn ? <SignInPage reason={reason} /> : <Page route={route} />}
      </div>
    </>
  );
}

render(<App />, document.getElementById('app')!);
